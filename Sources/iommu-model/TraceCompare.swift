import ArgumentParser
import Foundation
import ModelTraces
import OracleTraces

/// The model traces `trace-compare` and `trace NAME --scenario` produce themselves, by device
/// and scenario: riscv-iommu, arm-smmu-v3 and intel-iommu run all three scenarios on their
/// machine models (Sources/ModelTraces). `--model-trace FILE` overrides them.
let modelTraceProviders = ModelTraceRegistry(modelTraceProvidersOfDrivers)

/// `iommu-model trace-compare NAME FILE --scenario S`: compares a real capture with the model.
struct TraceCompare: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "trace-compare",
    abstract: "Compare a real QEMU capture of a Linux 7.2 driver with the model's trace of the same scenario.",
    discussion: """
      FILE is a QEMU trace (vtd_reg_*/vtd_inv_desc*, smmuv3_*_mmio/smmuv3_cmdq_opcode, or \
      memory_region_ops_* of riscv-iommu-regs) or a canonical trace. Allocated addresses are \
      replaced by symbols on both sides, the accesses are aligned, and the first divergence is \
      printed with context; the last line is `match: N/M` (real accesses matched / real \
      accesses). Exits 0 only when every access on both sides is matched.
      """)

  @Argument(help: "The driver: intel-iommu, arm-smmu-v3 or riscv-iommu.")
  var name: String

  @Argument(help: "The real trace (QEMU trace events or canonical form).")
  var file: String

  @Option(help: "The scenario: probe-shutdown, kexec or kdump.")
  var scenario: String

  @Option(help: "The model's trace (canonical or QEMU form) instead of a registered driver's.")
  var modelTrace: String?

  func run() throws {
    guard let device = OracleDevice(rawValue: name) else {
      throw ValidationError(
        "unknown NAME '\(name)'; known: \(OracleDevice.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    guard let scenario = OracleScenario(rawValue: scenario) else {
      throw ValidationError(
        "unknown scenario '\(self.scenario)'; known: \(OracleScenario.allCases.map(\.rawValue).joined(separator: ", "))"
      )
    }
    let parser = QEMUTraceParser(device: device)
    let real = try parser.parse(Self.read(file))
    let modelText: String
    if let modelTrace {
      modelText = try Self.read(modelTrace)
    } else if let provider = modelTraceProviders.provider(for: device, scenario: scenario) {
      modelText = try provider.trace(scenario)
    } else {
      throw ValidationError(
        "no model trace for \(device) \(scenario): the driver model has not registered one yet; pass --model-trace FILE"
      )
    }
    let model = try parser.parse(modelText)
    if real.bootCount != scenario.bootCount {
      print("warning: the real trace holds \(real.bootCount) boot(s), \(scenario) has \(scenario.bootCount)")
    }
    let comparison = TraceComparison(real: real, model: model, device: device)
    print(comparison.report)
    if !comparison.allMatch { throw ExitCode(1) }
  }

  static func read(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
      throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
  }
}

/// `iommu-model trace-parse NAME FILE`: a QEMU capture in the canonical form.
struct TraceParse: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "trace-parse",
    abstract: "Print a QEMU capture of an IOMMU in the canonical form (accesses, # annotations, ## boot N).")

  @Argument(help: "The driver: intel-iommu, arm-smmu-v3 or riscv-iommu.")
  var name: String

  @Argument(help: "The QEMU trace file.")
  var file: String

  @Flag(help: "Print the accesses only, with allocated addresses replaced by symbols.")
  var normalised = false

  func run() throws {
    guard let device = OracleDevice(rawValue: name) else { throw ValidationError("unknown NAME '\(name)'") }
    let trace = try QEMUTraceParser(device: device).parse(TraceCompare.read(file))
    if normalised {
      for a in AddressNormaliser(device: device).normalise(trace) { print(a) }
    } else {
      print(trace, terminator: "")
    }
  }
}

/// `--scenario S` of `iommu-model trace NAME`: the model's trace of a real-kernel oracle scenario.
struct ScenarioOption: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Print the model's trace of an oracle scenario (probe-shutdown, kexec, kdump) in the canonical form, with ## boot N per kernel; other options are ignored.",
      valueName: "scenario"))
  var scenario: String?

  /// Prints the registered provider's trace when `--scenario` was given; false when it was not.
  func printTrace(_ device: OracleDevice) throws -> Bool {
    guard let scenario else { return false }
    guard let s = OracleScenario(rawValue: scenario) else {
      throw ValidationError(
        "unknown scenario '\(scenario)'; known: \(OracleScenario.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    guard let provider = modelTraceProviders.provider(for: device, scenario: s) else {
      throw ValidationError("no model trace for \(device) \(s)")
    }
    print(try provider.trace(s), terminator: "")
    return true
  }
}
