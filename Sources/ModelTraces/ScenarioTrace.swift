import IOMMUModel
import MMIO
import OracleTraces

/// A model's trace of one scenario, built kernel by kernel in the canonical form of
/// `CanonicalTrace`: `## boot N` before each kernel's first access, then its accesses, with
/// device events (queued commands) as `# ` annotations.
public struct ScenarioTrace {
  private(set) var lines: [String] = []
  private var boots = 0

  /// Appends one kernel's trace: a `## boot N` marker, then its lines (accesses in canonical
  /// form; any other line becomes an annotation), then its kernel log as `# log: ` annotations.
  mutating func addBoot(_ kernelLines: [String], log: [String]) {
    boots += 1
    lines.append("## boot \(boots)")
    for line in kernelLines {
      lines.append(MMIOAccess(line: Substring(line)) == nil ? "# \(line)" : line)
    }
    lines += log.map { "\(Self.logPrefix)\($0)" }
  }

  /// ``addBoot(_:log:)`` with `kernel`'s log as the console shows it at the default loglevel
  /// (KERN_INFO and more severe), as the oracle's captures record it.
  mutating func addBoot(_ kernelLines: [String], kernel: Kernel) {
    addBoot(kernelLines, log: kernel.log.lines(atMost: .info))
  }

  /// The prefix of a kernel log line in the trace.
  public static let logPrefix = "# log: "

  /// The canonical text, ending with a newline.
  var text: String { lines.joined(separator: "\n") + "\n" }
}

extension OracleTrace {
  /// The kernel log lines a model's trace holds for boot `n` (1-based), from its `# log: `
  /// annotations.
  public func kernelLog(ofBoot n: Int) -> [String] {
    var boot = 0
    var out: [String] = []
    let tag = String(ScenarioTrace.logPrefix.dropFirst(2))
    for event in events {
      switch event {
      case .bootStart(let b): boot = b
      case .annotation(let text) where boot == n && text.hasPrefix(tag): out.append(String(text.dropFirst(tag.count)))
      default: break
      }
    }
    return out
  }
}
