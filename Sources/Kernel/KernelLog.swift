import Logging

/// printk levels (`KERN_EMERG` … `KERN_DEBUG`).
public enum KernelLogLevel: Int, Sendable, Hashable, Comparable, CaseIterable,
  CustomStringConvertible
{
  case emerg = 0
  case alert, crit, err, warning, notice, info, debug

  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  public var description: String {
    switch self {
    case .emerg: "emerg"
    case .alert: "alert"
    case .crit: "crit"
    case .err: "err"
    case .warning: "warn"
    case .notice: "notice"
    case .info: "info"
    case .debug: "debug"
    }
  }

  /// The swift-log level a printk level maps to.
  public var loggerLevel: Logger.Level {
    switch self {
    case .emerg, .alert, .crit: .critical
    case .err: .error
    case .warning: .warning
    case .notice: .notice
    case .info: .info
    case .debug: .debug
    }
  }
}

/// One line of the kernel log, as the console would print it (without the timestamp).
public struct KernelLogLine: Sendable, Hashable, CustomStringConvertible {
  public var level: KernelLogLevel
  public var text: String
  /// Simulated time of the printk, in microseconds.
  public var timestampMicroseconds: UInt64
  public var description: String { text }
}

/// The kernel's log buffer: what `dmesg` would show. Tests assert on ``lines``; every line also
/// goes to a swift-log `Logger` when one is set (the serial console), with the printk timestamp
/// and level as metadata.
public final class KernelLog {
  /// The console every new kernel log writes to, for the duration of a task:
  /// `KernelLog.$console.withValue(logger) { ... }`. The command-line tool sets it from
  /// `IOMMU_MODEL_CONSOLE`; tests leave it unset and read ``lines``.
  @TaskLocal public static var console: Logger?

  // Appended by every printk, never re-entered: no dynamic exclusivity checks.
  @exclusivity(unchecked) public private(set) var entries: [KernelLogLine] = []
  /// Where lines are forwarded (the console); its log level is the console loglevel.
  @exclusivity(unchecked) public var logger: Logger?
  let clock: SimulatedClock
  /// False for a log that keeps nothing: the handover matrix never reads its kernels' logs, and
  /// a printk whose text is never built costs nothing (the message is an autoclosure).
  public let isRecording: Bool

  public init(clock: SimulatedClock, logger: Logger? = KernelLog.console, isRecording: Bool = true) {
    self.clock = clock
    self.logger = logger
    self.isRecording = isRecording
  }

  /// `printk(KERN_<level> "...")`.
  public func printk(_ level: KernelLogLevel, _ message: @autoclosure () -> String) {
    guard isRecording else { return }
    let text = message()
    entries.append(
      KernelLogLine(level: level, text: text, timestampMicroseconds: clock.microseconds))
    logger?.log(
      level: level.loggerLevel, "\(clock.printkTimestamp) \(text)", metadata: ["printk.level": "\(level)"])
  }

  /// The log's text, one string a line.
  public var lines: [String] { entries.map(\.text) }

  /// Lines at `level` or more severe.
  public func lines(atMost level: KernelLogLevel) -> [String] {
    entries.filter { $0.level <= level }.map(\.text)
  }

  public func removeAll() { entries.removeAll() }
}
