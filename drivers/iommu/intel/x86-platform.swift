import Kernel

// Where an x86 kernel calls into the VT-d driver during boot and shutdown (arch/x86 and
// drivers/iommu/irq_remapping.c, Linux 7.2), as steps a scenario replays in order.

/// One point of an x86 boot or shutdown that reaches the VT-d driver.
public enum X86BootStep: Sendable, Hashable, CustomStringConvertible {
  /// Early parameters: intel_iommu_setup() for each `intel_iommu=`.
  case earlyParams
  /// pci_iommu_alloc() → detect_intel_iommu(): validates the DRHDs, installs the shutdown hook.
  case detect
  /// enable_IR_x2apic() → irq_remapping_prepare() and irq_remapping_enable().
  case irqRemapping
  /// The interrupt layer activates IRTE `index` (IOAPIC pin or MSI setup) → modify_irte().
  case irte(Int)
  /// pci_iommu_init() → intel_iommu_init().
  case iommuInit
  /// A read of /sys/class/iommu/dmar0/intel-iommu/version.
  case sysfsVersion
  /// kernel_power_off()/kernel_restart()/kernel_kexec(): device_shutdown(), then
  /// machine_shutdown() → x86_platform.iommu_shutdown().
  case shutdown

  public var description: String {
    switch self {
    case .earlyParams: "early-params"
    case .detect: "detect"
    case .irqRemapping: "irq-remapping"
    case .irte(let i): "irte \(i)"
    case .iommuInit: "iommu-init"
    case .sysfsVersion: "sysfs-version"
    case .shutdown: "shutdown"
    }
  }

  /// Parses the description form (`irte 11` or `irte 0xb`).
  public init?(_ text: Substring) {
    let words = text.split(separator: " ")
    switch words.first {
    case "early-params": self = .earlyParams
    case "detect": self = .detect
    case "irq-remapping": self = .irqRemapping
    case "iommu-init": self = .iommuInit
    case "sysfs-version": self = .sysfsVersion
    case "shutdown": self = .shutdown
    case "irte":
      guard words.count == 2 else { return nil }
      let w = words[1]
      guard let i = w.hasPrefix("0x") ? Int(w.dropFirst(2), radix: 16) : Int(w) else { return nil }
      self = .irte(i)
    default: return nil
    }
  }

  /// A boot up to a running system: the steps every scenario shares.
  public static let boot: [X86BootStep] = [.earlyParams, .detect, .irqRemapping, .iommuInit]
}

/// What a run of steps ended with.
public struct X86BootOutcome: Sendable {
  /// The first failing step's error, when it was not one the kernel boots on from.
  public var fatal: KernelFatal?
  /// Each step's errno, when it returned one (the kernel goes on booting).
  public var errors: [(step: X86BootStep, errno: Errno)] = []
  /// The errno of intel_iommu_init(), the driver's own result.
  public var initResult: Errno?
}

extension IntelIOMMUDriver {
  /// Runs `steps` in order, as the kernel reaches them. An errno does not stop a boot (the
  /// kernel carries on without the feature); a panic or a hang stops everything.
  public func run(_ steps: [X86BootStep]) -> X86BootOutcome {
    var outcome = X86BootOutcome()
    for step in steps {
      do throws(DMARError) {
        switch step {
        case .earlyParams: intelIOMMUSetup()
        case .detect: try detectIntelIOMMU()
        case .irqRemapping:
          try intelPrepareIRQRemapping()
          try intelEnableIRQRemapping()
        case .irte(let i):
          try modifyIRTE(index: i, .remapped(vector: 0, destination: 0, sourceID: 0))
        case .iommuInit: try intelIOMMUInit()
        case .sysfsVersion: _ = try sysfsVersion()
        case .shutdown:
          core?.deviceShutdown()
          if let f = shutdownFailure { throw f }
        }
      } catch {
        switch error {
        case .fatal(let f):
          outcome.fatal = f
          return outcome
        case .errno(let e):
          outcome.errors.append((step, e))
          if step == .iommuInit { outcome.initResult = e }
        }
      }
    }
    return outcome
  }
}
