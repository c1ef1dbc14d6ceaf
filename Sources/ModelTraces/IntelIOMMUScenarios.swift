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
    _ = first.driver.run(boot(InterruptWorkload.firstKernel))
    switch scenario {
    case .probeShutdown:
      // poweroff: device_shutdown(), then the late hook intel_iommu_shutdown().
      _ = first.driver.run([.shutdown])
      out.addBoot(first.trace.lines, kernel: first.kernel)
    case .kexec:
      first.kernel.context.kexecInProgress = true
      _ = first.driver.run([.shutdown])
      out.addBoot(first.trace.lines, kernel: first.kernel)
      let next = secondKernel(on: machine, kdump: false)
      out.addBoot(next.trace.lines, kernel: next.kernel)
    case .kdump:
      out.addBoot(first.trace.lines, kernel: first.kernel)
      let next = secondKernel(on: machine, kdump: true)
      out.addBoot(next.trace.lines, kernel: next.kernel)
    }
    return out.text
  }

  /// The kexec'd or crash kernel on the same unit and memory: boot, then poweroff.
  static func secondKernel(on machine: IntelVTdMachine, kdump: Bool) -> IntelVTdMachine.Boot {
    let next = machine.kernel(
      kdump: kdump, commandLine: kdump ? "intel_iommu=on nr_cpus=1 reset_devices" : "intel_iommu=on")
    _ = next.driver.run(boot(kdump ? InterruptWorkload.crashKernel : InterruptWorkload.firstKernel) + [.shutdown])
    return next
  }

  /// The boot steps of one kernel with its interrupt workload: the IOAPIC's IRTE updates after
  /// IRQ remapping is enabled, the devices' after intel_iommu_init().
  static func boot(_ workload: InterruptWorkload) -> [X86BootStep] {
    [.earlyParams, .detect, .irqRemapping] + workload.early.map { .irte($0) } + [.iommuInit]
      + workload.late.map { .irte($0) }
  }

  public static let provider = ModelTraceProvider(
    device: .intelIOMMU, scenarios: OracleScenario.allCases, trace: { trace($0) })
}

/// The IRTE updates (modify_irte(), each one qi_flush_iec() and so one IQT write) the interrupt
/// layer of the capture's q35 guest makes. The model does not run the x86 vector and IOAPIC
/// code that chooses the entries, so the indices are those the capture's `vtd_inv_desc_iec`
/// events name: IOAPIC pins before intel_iommu_init(), then the legacy and PCI interrupts. The
/// crash kernel's differ because it copied the crashed kernel's table, whose entries stay in use
/// (intel_setup_irq_remapping() -> iommu_load_old_irte()). Only the number and place of the
/// updates are compared (the descriptors are annotations).
struct InterruptWorkload {
  var early: [Int]
  var late: [Int]

  static let firstKernel = InterruptWorkload(
    early: [1, 1, 8, 8], late: [0xb, 0xb, 0xb, 0xb, 0xb, 0, 0, 7, 7, 3, 3])
  static let crashKernel = InterruptWorkload(
    early: [4, 4, 0xe, 0xe], late: [0x11, 0x11, 0x11, 0x11, 0x11, 2, 2, 0xd, 0xd, 6, 6])
}
