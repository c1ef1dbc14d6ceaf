import IOMMUModel
import IOMMUModelTesting
import OracleTraces

/// The riscv-iommu-pci scenarios of the real-kernel oracle on `RISCVIOMMUTestbed` (QEMU virt
/// with riscv-iommu-pci at 0000:00:01.0 and the host bridge 0000:00:00.0 behind it).
public enum RISCVIOMMUScenarios {
  /// The model's trace of `scenario`, one `## boot` per kernel that drives the IOMMU.
  public static func trace(_ scenario: OracleScenario) -> String {
    var out = ScenarioTrace()
    let first = RISCVIOMMUTestbed()
    first.boot()
    switch scenario {
    case .probeShutdown:
      // poweroff: kernel_power_off() -> device_shutdown().
      first.shutdown()
      out.addBoot(first.trace.lines, kernel: first.kernel)
    case .kexec:
      // kernel_kexec(): kexec_in_progress = true, then device_shutdown().
      first.kernel.context.kexecInProgress = true
      first.shutdown()
      out.addBoot(first.trace.lines, kernel: first.kernel)
      let next = secondKernel(after: first, kdump: false)
      out.addBoot(next.trace.lines, kernel: next.kernel)
    case .kdump:
      // __crash_kexec() runs no shutdown callback: the IOMMU is left as it was.
      out.addBoot(first.trace.lines, kernel: first.kernel)
      let next = secondKernel(after: first, kdump: true)
      out.addBoot(next.trace.lines, kernel: next.kernel)
    }
    return out.text
  }

  /// The kexec'd or crash kernel on the unreset IOMMU: probe, then poweroff.
  static func secondKernel(after first: RISCVIOMMUTestbed, kdump: Bool) -> RISCVIOMMUTestbed {
    let next = first.nextKernel(kdump: kdump)
    next.boot()
    next.shutdown()
    return next
  }

  public static let provider = ModelTraceProvider(
    device: .riscvIOMMU, scenarios: OracleScenario.allCases, trace: { trace($0) })
}
