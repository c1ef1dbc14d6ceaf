import ArgumentParser
import IOMMUModel
import IOMMUModelTesting

extension ARMSMMUv3Variant: ExpressibleByArgument {}

/// The faults `--fault` can inject into the SMMUv3 model.
enum SMMUv3FaultArgument: String, CaseIterable, ExpressibleByArgument {
  case cr0AckStuck = "cr0-ack-stuck"
  case gbpaUpdateStuck = "gbpa-update-stuck"
  case irqAckStuck = "irq-ack-stuck"
  case cmdqStuck = "cmdq-stuck"

  var fault: SMMUv3Faults {
    switch self {
    case .cr0AckStuck: .cr0AckStuck
    case .gbpaUpdateStuck: .gbpaUpdateStuck
    case .irqAckStuck: .irqAckStuck
    case .cmdqStuck: .commandQueueStuck
    }
  }
}

/// Options shared by `check arm-smmu-v3` and `trace arm-smmu-v3`.
struct ARMSMMUv3CommandOptions: ParsableArguments {
  @Flag(help: "Run as a kdump (crash) kernel: is_kdump_kernel() is true.")
  var kdump = false

  @Option(help: "Policy variant: \(ARMSMMUv3Variant.allCases.map(\.rawValue).joined(separator: ", ")).")
  var variant: ARMSMMUv3Variant = .kernel

  @Option(
    name: .customLong("fault"),
    help: "Inject a hardware fault: \(SMMUv3FaultArgument.allCases.map(\.rawValue).joined(separator: ", ")).")
  var faults: [SMMUv3FaultArgument] = []

  /// A QEMU 10 virt board with the options applied.
  func board() -> ARMSMMUv3Board {
    var configuration = SMMUv3Configuration.qemu10
    for f in faults { configuration.faults.insert(f.fault) }
    return ARMSMMUv3Board(kdump: kdump, variant: variant, configuration: configuration)
  }
}

/// `iommu-model check arm-smmu-v3`: probes the arm-smmu-v3 driver model on QEMU 10's virt SMMUv3
/// with the given register values and prints the result, the log and the trace.
struct CheckARMSMMUv3: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "arm-smmu-v3",
    abstract: "Probe arm-smmu-v3 (Linux 7.2 model) on QEMU 10's virt SMMUv3.",
    discussion: """
      Registers set with --set are written through the hardware's backdoor before the probe: \
      ID registers (IDR0, IDR1, IDR3, IDR5, IIDR) describe other silicon; CR0 with CR0ACK (both) \
      describe an SMMU a previous kernel left enabled. The trace lists each consumed command as \
      CMD NAME before the register write that submitted it, as QEMU's trace does.
      """)

  @OptionGroup var options: ARMSMMUv3CommandOptions

  @Option(
    name: .customLong("set"),
    help: ArgumentHelp("Set a register before the probe (repeatable).", valueName: "REGISTER=VALUE"))
  var assignments: [String] = []

  @OptionGroup var output: OutputOptions

  func run() throws {
    let board = options.board()
    for text in assignments {
      try RegisterAssignment(parsing: text).apply(to: board.smmu.registers)
    }
    // ID registers set by hand are what the hardware now advertises.
    let r = board.smmu.registers
    var configuration = board.smmu.configuration
    configuration.idr0 = UInt32(r.peek(.dword, at: SMMUv3Offset.IDR0))
    configuration.idr1 = UInt32(r.peek(.dword, at: SMMUv3Offset.IDR1))
    configuration.idr3 = UInt32(r.peek(.dword, at: SMMUv3Offset.IDR3))
    configuration.idr5 = UInt32(r.peek(.dword, at: SMMUv3Offset.IDR5))
    configuration.iidr = UInt32(r.peek(.dword, at: SMMUv3Offset.IIDR))
    board.smmu.configuration = configuration
    let error = board.probe()
    print(CheckReport(error: error, log: board.kernel.log.lines, trace: board.recorder.lines).render(json: output.json))
  }
}

/// `iommu-model trace arm-smmu-v3`: the model's trace of probe followed by shutdown.
struct TraceARMSMMUv3: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "arm-smmu-v3",
    abstract: "Trace arm-smmu-v3's probe and shutdown on QEMU 10's virt SMMUv3.")

  @OptionGroup var options: ARMSMMUv3CommandOptions

  @OptionGroup var scenario: ScenarioOption

  func run() throws {
    if try scenario.printTrace(.armSMMUv3) { return }
    let board = options.board()
    board.probe()
    board.shutdown()
    for line in board.recorder.lines { print(line) }
  }
}
