import MMIO
import OracleTraces

/// A model's trace of one scenario, built kernel by kernel in the canonical form of
/// `CanonicalTrace`: `## boot N` before each kernel's first access, then its accesses, with
/// device events (queued commands) as `# ` annotations.
struct ScenarioTrace {
  private(set) var lines: [String] = []
  private var boots = 0

  /// Appends one kernel's trace: a `## boot N` marker, then its lines (accesses in canonical
  /// form; any other line becomes an annotation).
  mutating func addBoot(_ kernelLines: [String]) {
    boots += 1
    lines.append("## boot \(boots)")
    for line in kernelLines {
      lines.append(MMIOAccess(line: Substring(line)) == nil ? "# \(line)" : line)
    }
  }

  /// The canonical text, ending with a newline.
  var text: String { lines.joined(separator: "\n") + "\n" }
}
