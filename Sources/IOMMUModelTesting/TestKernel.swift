@_exported import IOMMUModel

/// A kernel and its driver core, for specifications in users' own test suites:
///
/// ```swift
/// let env = TestKernel(kdump: true)
/// env.core.register(device)
/// #expect(env.log == ["riscv-iommu 0000:00:01.0: ..."])
/// ```
public final class TestKernel {
  public let kernel: Kernel
  public let core: DriverCore

  public init(
    kdump: Bool = false, commandLine: String = "", moduleParameters: [String: String] = [:],
    clock: SimulatedClock = SimulatedClock()
  ) {
    kernel = Kernel(
      name: kdump ? "crash kernel" : "kernel",
      context: KernelContext(
        isKdumpKernel: kdump, commandLine: CommandLine(commandLine),
        moduleParameters: moduleParameters),
      clock: clock)
    core = DriverCore(kernel: kernel)
  }

  /// The kernel log so far, one string a line.
  public var log: [String] { kernel.log.lines }

  /// Simulated microseconds since power-on.
  public var elapsedMicroseconds: UInt64 { kernel.clock.microseconds }
}

/// A register block with a trace: the usual shape of a device under test.
public struct TracedRegisters {
  public let registers: SimulatedRegisterFile
  public let recorder: RecordingRegisterIO<SimulatedRegisterFile>
  public var trace: AccessTrace { recorder.trace }

  public init(_ registers: SimulatedRegisterFile) {
    self.registers = registers
    recorder = RecordingRegisterIO(registers)
  }

  /// The trace in canonical form, one access a line.
  public var lines: [String] { trace.lines }
}

/// Parses canonical trace text (`W32 0x0048 0x00000103` a line; blank lines and `#` comments
/// skipped) into accesses, naming the first bad line.
public func parseTrace(_ text: String, file: String = "<trace>") throws(TraceParseError)
  -> [MMIOAccess]
{
  var out: [MMIOAccess] = []
  for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
    let t = line.drop { $0 == " " }
    if t.isEmpty || t.hasPrefix("#") { continue }
    guard let a = MMIOAccess(line: t) else {
      throw TraceParseError(file: file, line: n + 1, text: String(line))
    }
    out.append(a)
  }
  return out
}

/// A trace line that is not in canonical form.
public struct TraceParseError: Error, CustomStringConvertible {
  public let file: String
  public let line: Int
  public let text: String
  public var description: String { "\(file):\(line): not a trace line: \(text)" }
}
