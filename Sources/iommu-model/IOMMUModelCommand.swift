import ArgumentParser
import Foundation
import IOMMUModel
import Logging

@main
struct IOMMUModelCommand: ParsableCommand {
  /// Runs the command; with `IOMMU_MODEL_CONSOLE=LEVEL` (`debug`, `info`, `notice`, `warning`,
  /// `error`), every simulated kernel's log also streams to standard error through swift-log,
  /// like a serial console at that loglevel.
  static func main() {
    guard let name = ProcessInfo.processInfo.environment["IOMMU_MODEL_CONSOLE"],
      let level = Logger.Level(rawValue: name)
    else { return runCommand() }
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    var console = Logger(label: "kernel")
    console.logLevel = level
    KernelLog.$console.withValue(console) { runCommand() }
  }

  private static func runCommand() {
    var command: ParsableCommand
    do { command = try parseAsRoot() } catch { exit(withError: error) }
    do { try command.run() } catch { exit(withError: error) }
  }

  static let configuration = CommandConfiguration(
    commandName: "iommu-model",
    abstract:
      "A model of the Linux kernel's IOMMU drivers: check, trace and hand over simulated IOMMUs.",
    discussion: """
      Simulated hardware runs the drivers' probe, init_check and shutdown paths in simulated time.
      Nothing here ever writes to the real host's hardware.
      Set IOMMU_MODEL_CONSOLE=debug|info|notice|warning|error to stream every simulated kernel's
      log to standard error as it is printed.
      """,
    version: "0.1.0",
    subcommands: [
      Host.self,
      Decode.self,
      Check.self,
      Trace.self,
      Handover.self,
      TraceCompare.self,
      TraceParse.self,
      Bench.self,
    ])
}

/// `iommu-model check DRIVER ...`: runs a driver's init_check against its hardware model.
struct Check: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Run a driver's init_check (or probe) on its hardware model and print errno, log and trace.",
    subcommands: [
      CheckRISCV.self,
      CheckARMSMMU.self,
      CheckARMSMMUv3.self,
      CheckIntelIOMMU.self,
    ])
}

/// `iommu-model trace DRIVER ...`: the model's access trace of probe followed by shutdown.
struct Trace: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the model's register access trace of a driver's probe followed by shutdown.",
    subcommands: [
      TraceRISCV.self,
      TraceARMSMMU.self,
      TraceARMSMMUv3.self,
      TraceIntelIOMMU.self,
    ])
}

/// `--json` or text, shared by the subcommands that report.
struct OutputOptions: ParsableArguments {
  @Flag(name: .long, help: "Print JSON instead of text.")
  var json = false
}
