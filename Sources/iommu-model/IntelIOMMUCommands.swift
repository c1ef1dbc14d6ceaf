import ArgumentParser
import Foundation
import IOMMUModel

/// Options shared by `check intel-iommu` and `trace intel-iommu`.
struct IntelIOMMUOptions: ParsableArguments {
  @Flag(name: .long, help: "Boot a crash (kdump) kernel after a previous kernel that crashed with the IOMMU on.")
  var kdump = false

  @Option(
    name: .long,
    help: "Driver variant: \(IntelIOMMUVariant.allCases.map(\.rawValue).joined(separator: ", ")).")
  var variant = "kernel"

  @Option(name: .long, help: "The checked kernel's command line.")
  var cmdline = "intel_iommu=on"

  @Option(name: .long, help: "The previous kernel's command line (with --kdump).")
  var previousCmdline = "intel_iommu=on"

  @Option(name: .customLong("set"), help: "REGISTER=VALUE poked into the unit just before the checked kernel boots.")
  var assignments: [String] = []

  @Option(name: .long, help: "GSTS bits that never follow their GCMD command (fault injection), e.g. 0x80000000.")
  var stuckStatus: String?

  @Option(name: .long, help: "Simulated microseconds per turn of a busy-wait loop (IOMMU_WAIT_OP).")
  var busyWaitStepUs: UInt64 = 1000

  @Flag(inversion: .prefixedNo, help: "QEMU intremap=on (the reference machine) or off (QEMU's default).")
  var intremap = true

  @Flag(name: .long, help: "QEMU x-scalable-mode=on (ECAP.SMTS).")
  var scalableMode = false

  func machine() throws -> (IntelVTdMachine, IntelIOMMUVariant) {
    guard let v = IntelIOMMUVariant(rawValue: variant) else {
      throw ValidationError(
        "unknown variant '\(variant)'; known: \(IntelIOMMUVariant.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    var config = VTdConfiguration(interruptRemapping: intremap, scalableMode: scalableMode)
    config.interruptRemapping = intremap
    return (IntelVTdMachine(configuration: config), v)
  }

  /// Boots the previous kernel when asked, applies the register assignments and fault
  /// injection, and returns the kernel to check.
  func prepare() throws -> (IntelVTdMachine, IntelVTdMachine.Boot) {
    let (machine, variant) = try machine()
    if kdump { _ = machine.kernel(commandLine: previousCmdline).driver.run(X86BootStep.boot) }
    for text in assignments {
      do { try RegisterAssignment(parsing: text).apply(to: machine.unit.registers) } catch {
        throw ValidationError(error.description)
      }
    }
    if let stuckStatus {
      let v =
        stuckStatus.lowercased().hasPrefix("0x") ? UInt32(stuckStatus.dropFirst(2), radix: 16) : UInt32(stuckStatus)
      guard let v else { throw ValidationError("'\(stuckStatus)' is not a number") }
      machine.unit.stuckStatus = v
    }
    let clock = SimulatedClock()
    clock.busyWaitStepNanoseconds = busyWaitStepUs * 1_000
    machine.unit.clearEvents()
    return (machine, machine.kernel(kdump: kdump, commandLine: cmdline, variant: variant, clock: clock))
  }
}

/// `iommu-model check intel-iommu`: boots the VT-d driver (intel_iommu_init and the interrupt
/// remapping set-up before it) on the simulated q35 unit and prints its result, log and trace.
struct CheckIntelIOMMU: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "intel-iommu",
    abstract: "Boot the VT-d driver model (Linux 7.2) on QEMU 10's intel-iommu and print errno, log and trace.")

  @OptionGroup var options: IntelIOMMUOptions
  @OptionGroup var output: OutputOptions

  func run() throws {
    let (_, boot) = try options.prepare()
    let outcome = boot.driver.run(X86BootStep.boot)
    let report = CheckReport(
      error: outcome.initResult, log: boot.log, trace: boot.trace.lines, fatal: outcome.fatal?.consoleLine)
    print(report.render(json: output.json))
  }
}

/// `iommu-model trace intel-iommu`: the access trace of boot followed by power-off.
struct TraceIntelIOMMU: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "intel-iommu",
    abstract: "Print the VT-d model's register trace of boot followed by power-off (intel_iommu_shutdown).")

  @OptionGroup var options: IntelIOMMUOptions

  @Flag(name: .long, help: "Print QEMU's vtd_reg*/vtd_inv_desc* trace events instead of canonical lines.")
  var qemuTrace = false

  @Option(
    name: .long,
    help:
      "A file of boot steps to replay instead of boot + sysfs read + power-off (one a line: early-params, detect, irq-remapping, irte N, iommu-init, sysfs-version, shutdown; # comments)."
  )
  var steps: String?

  @OptionGroup var scenario: ScenarioOption

  func run() throws {
    if try scenario.printTrace(.intelIOMMU) { return }
    var script = X86BootStep.boot + [.sysfsVersion, .shutdown]
    if let steps {
      let text = try String(contentsOfFile: steps, encoding: .utf8)
      script = []
      for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t.hasPrefix("#") { continue }
        guard let step = X86BootStep(Substring(t)) else {
          throw ValidationError("\(steps):\(n + 1): not a boot step: \(t)")
        }
        script.append(step)
      }
    }
    let (machine, boot) = try options.prepare()
    let outcome = boot.driver.run(script)
    print((qemuTrace ? machine.unit.events : boot.trace.lines).joined(separator: "\n"))
    if let f = outcome.fatal { print("# fatal: \(f.consoleLine)") }
  }
}
