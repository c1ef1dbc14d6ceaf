import ArgumentParser
import IOMMUModel
import IOMMUModelTesting

extension RISCVIOMMUPolicy: ExpressibleByArgument {}

/// Options shared by `check riscv-iommu` and `trace riscv-iommu`.
struct RISCVMachineOptions: ParsableArguments {
  @Flag(help: "Run as a kdump (crash) kernel: is_kdump_kernel() is true.")
  var kdump = false

  @Option(
    help: ArgumentHelp(
      "Handover policy: \(RISCVIOMMUPolicy.allCases.map(\.rawValue).joined(separator: ", ")).",
      valueName: "name"))
  var variant: RISCVIOMMUPolicy = .kernel

  @Flag(help: "Use the platform variant (riscv,iommu with wired interrupts) instead of riscv-iommu-pci.")
  var platform = false

  func testbed() -> RISCVIOMMUTestbed {
    RISCVIOMMUTestbed(kdump: kdump, policy: variant, platform: platform)
  }
}

/// `iommu-model check riscv-iommu`: riscv_iommu_init_check() on the hardware model.
struct CheckRISCV: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "riscv-iommu",
    abstract: "Run riscv_iommu_init_check() on QEMU 10's riscv-iommu-pci model.",
    discussion: """
      Registers given with --set are written through the hardware's backdoor first, as a previous \
      kernel would have left them (e.g. --set DDTP=0x4 for 3LVL, --set DDTP=0x10 for BUSY). \
      The trace starts with the PCI probe's reads of CAPABILITIES and FCTL.
      """)

  @OptionGroup var machine: RISCVMachineOptions

  @Option(name: .customLong("set"), help: ArgumentHelp("Set a register before the check.", valueName: "REGISTER=VALUE"))
  var assignments: [String] = []

  @OptionGroup var output: OutputOptions

  func run() throws {
    let bed = machine.testbed()
    for text in assignments {
      try RegisterAssignment(parsing: text).apply(to: bed.hardware.registers)
    }
    let error = bed.checkInit()
    print(CheckReport(error: error, log: bed.log, trace: bed.trace.lines).render(json: output.json))
  }
}

/// `iommu-model trace riscv-iommu`: the access trace of probe followed by shutdown.
struct TraceRISCV: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "riscv-iommu",
    abstract: "Print the model's register trace of riscv-iommu-pci probe followed by shutdown.")

  @OptionGroup var machine: RISCVMachineOptions

  @Option(name: .customLong("set"), help: ArgumentHelp("Set a register before probing.", valueName: "REGISTER=VALUE"))
  var assignments: [String] = []

  @Flag(help: "Also print the kernel log and the commands the hardware consumed, as # comments.")
  var verbose = false

  @OptionGroup var scenario: ScenarioOption

  func run() throws {
    if try scenario.printTrace(.riscvIOMMU) { return }
    let bed = machine.testbed()
    for text in assignments {
      try RegisterAssignment(parsing: text).apply(to: bed.hardware.registers)
    }
    bed.boot()
    let probeEnd = bed.trace.count
    let result = bed.probeResult.map { "\($0)" } ?? "0"
    bed.shutdown()
    let lines = bed.trace.lines
    print("# probe: \(result)")
    lines[..<probeEnd].forEach { print($0) }
    print("# shutdown")
    lines[probeEnd...].forEach { print($0) }
    if verbose {
      bed.hardware.processedCommands.forEach { print("# \($0.name): \($0)") }
      bed.log.forEach { print("# log: \($0)") }
    }
  }
}
