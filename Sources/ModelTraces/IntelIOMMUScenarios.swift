import IOMMUModel
import IOMMUModelTesting
import OracleTraces

/// The intel-iommu scenarios of the real-kernel oracle on `IntelVTdMachine` (QEMU 10's q35 with
/// `-device intel-iommu,intremap=on` and the six functions of bus 0 in the DRHD's scope).
public enum IntelIOMMUScenarios {
  /// The model's trace of `scenario`, one `## boot` per kernel that drives the unit.
  public static func trace(_ scenario: OracleScenario) -> String {
    var out = ScenarioTrace()
    let machine = IntelVTdMachine()
    let first = machine.kernel()
    _ = first.driver.run(X86BootStep.boot)
    switch scenario {
    case .probeShutdown:
      // poweroff: device_shutdown(), then the late hook intel_iommu_shutdown().
      _ = first.driver.run([.shutdown])
      out.addBoot(first.trace.lines)
    case .kexec:
      first.kernel.context.kexecInProgress = true
      _ = first.driver.run([.shutdown])
      out.addBoot(first.trace.lines)
      out.addBoot(secondKernel(on: machine, kdump: false).trace.lines)
    case .kdump:
      out.addBoot(first.trace.lines)
      out.addBoot(secondKernel(on: machine, kdump: true).trace.lines)
    }
    return out.text
  }

  /// The kexec'd or crash kernel on the same unit and memory: boot, then poweroff.
  static func secondKernel(on machine: IntelVTdMachine, kdump: Bool) -> IntelVTdMachine.Boot {
    let next = machine.kernel(
      kdump: kdump, commandLine: kdump ? "intel_iommu=on nr_cpus=1 reset_devices" : "intel_iommu=on")
    _ = next.driver.run(X86BootStep.boot + [.shutdown])
    return next
  }

  public static let provider = ModelTraceProvider(
    device: .intelIOMMU, scenarios: OracleScenario.allCases, trace: { trace($0) })
}

/// The model trace providers of the three devices the oracle captures.
public let modelTraceProvidersOfDrivers = [
  RISCVIOMMUScenarios.provider, ARMSMMUv3Scenarios.provider, IntelIOMMUScenarios.provider,
]
