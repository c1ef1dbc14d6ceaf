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

/// The kernel's log buffer: what `dmesg` would show. Tests assert on ``lines``; the command-line
/// tool also forwards every line to a swift-log `Logger`.
public final class KernelLog {
  // Appended by every printk, never re-entered: no dynamic exclusivity checks.
  @exclusivity(unchecked) public private(set) var entries: [KernelLogLine] = []
  /// Lines at this level or more verbose are kept but not forwarded (the console loglevel).
  public var logger: Logger?
  let clock: SimulatedClock

  public init(clock: SimulatedClock, logger: Logger? = nil) {
    self.clock = clock
    self.logger = logger
  }

  /// `printk(KERN_<level> "...")`.
  public func printk(_ level: KernelLogLevel, _ text: String) {
    entries.append(
      KernelLogLine(level: level, text: text, timestampMicroseconds: clock.microseconds))
    logger?.log(level: level.loggerLevel, "\(text)")
  }

  /// The log's text, one string a line.
  public var lines: [String] { entries.map(\.text) }

  /// Lines at `level` or more severe.
  public func lines(atMost level: KernelLogLevel) -> [String] {
    entries.filter { $0.level <= level }.map(\.text)
  }

  public func removeAll() { entries.removeAll() }
}
