import IOMMUModel
import IOMMUModelTesting
import MMIO
import OracleTraces

/// The arm-smmu-v3 scenarios of the real-kernel oracle on `ARMSMMUv3Board` (QEMU 10's
/// `-M virt,iommu=smmuv3`: the host bridge and virtio-net behind the SMMU).
public enum ARMSMMUv3Scenarios {
  /// The model's trace of `scenario`, one `## boot` per kernel that drives the SMMU.
  public static func trace(_ scenario: OracleScenario) -> String {
    var out = ScenarioTrace()
    let first = ARMSMMUv3Board(contiguousArea: true)
    first.probe()
    switch scenario {
    case .probeShutdown:
      first.shutdown()
      out.addBoot(qemuView(first.recorder.lines), kernel: first.kernel)
    case .kexec:
      first.kernel.context.kexecInProgress = true
      first.shutdown()
      out.addBoot(qemuView(first.recorder.lines), kernel: first.kernel)
      let next = secondKernel(after: first, kdump: false)
      out.addBoot(qemuView(next.recorder.lines), kernel: next.kernel)
    case .kdump:
      out.addBoot(qemuView(first.recorder.lines), kernel: first.kernel)
      let next = secondKernel(after: first, kdump: true)
      out.addBoot(qemuView(next.recorder.lines), kernel: next.kernel)
    }
    return out.text
  }

  /// The model's accesses as QEMU's `smmuv3_read_mmio`/`smmuv3_write_mmio` events print them:
  /// QEMU makes register page 1 an exact alias of page 0 and clears bit 16 of the offset before
  /// tracing (smmu_read_mmio()/smmu_write_mmio(), hw/arm/smmuv3.c, QEMU 10), so the driver's
  /// EVTQ_PROD/CONS at 0x100a8/0x100ac appear as 0xa8/0xac in every capture. The model keeps the
  /// driver's real offsets; only this view folds them.
  static func qemuView(_ lines: [String]) -> [String] {
    lines.map { line in
      guard var access = MMIOAccess(line: Substring(line)) else { return line }
      access.offset &= ~0x10000
      return access.description
    }
  }

  /// The kexec'd or crash kernel on the same SMMU and memory: probe, then poweroff.
  static func secondKernel(after first: ARMSMMUv3Board, kdump: Bool) -> ARMSMMUv3Board {
    let next = ARMSMMUv3Board(kdump: kdump, contiguousArea: true, after: first)
    next.probe()
    next.shutdown()
    return next
  }

  public static let provider = ModelTraceProvider(
    device: .armSMMUv3, scenarios: OracleScenario.allCases, trace: { trace($0) })
}
