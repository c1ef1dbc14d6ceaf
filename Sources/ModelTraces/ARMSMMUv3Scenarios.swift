import IOMMUModel
import IOMMUModelTesting
import OracleTraces

/// The arm-smmu-v3 scenarios of the real-kernel oracle on `ARMSMMUv3Board` (QEMU 10's
/// `-M virt,iommu=smmuv3`: the host bridge and virtio-net behind the SMMU).
public enum ARMSMMUv3Scenarios {
  /// The model's trace of `scenario`, one `## boot` per kernel that drives the SMMU.
  public static func trace(_ scenario: OracleScenario) -> String {
    var out = ScenarioTrace()
    let first = ARMSMMUv3Board()
    first.probe()
    switch scenario {
    case .probeShutdown:
      first.shutdown()
      out.addBoot(first.recorder.lines)
    case .kexec:
      first.kernel.context.kexecInProgress = true
      first.shutdown()
      out.addBoot(first.recorder.lines)
      out.addBoot(secondKernel(after: first, kdump: false).recorder.lines)
    case .kdump:
      out.addBoot(first.recorder.lines)
      out.addBoot(secondKernel(after: first, kdump: true).recorder.lines)
    }
    return out.text
  }

  /// The kexec'd or crash kernel on the same SMMU and memory: probe, then poweroff.
  static func secondKernel(after first: ARMSMMUv3Board, kdump: Bool) -> ARMSMMUv3Board {
    let next = ARMSMMUv3Board(kdump: kdump, after: first)
    next.probe()
    next.shutdown()
    return next
  }

  public static let provider = ModelTraceProvider(
    device: .armSMMUv3, scenarios: OracleScenario.allCases, trace: { trace($0) })
}
