/// The alignment of a real trace (a QEMU capture) with a model's trace, after normalisation.
public struct TraceComparison: Sendable {
  /// One step of the alignment: both sides agree, or one side has an access the other lacks.
  public enum Step: Sendable, Hashable {
    case match(real: Int, model: Int)
    case realOnly(Int)
    case modelOnly(Int)
  }

  /// The first step that is not a match, with the aligned steps around it.
  public struct Divergence: Sendable, Hashable {
    /// 0-based index of the first real access not matched (or the real count, at the end).
    public var realIndex: Int
    /// 0-based index of the model access at that point.
    public var modelIndex: Int
    /// The context: report lines, the divergent ones marked.
    public var context: [String]
  }

  public let real: [NormalisedAccess]
  public let model: [NormalisedAccess]
  public let steps: [Step]
  /// The boot (1-based) each access belongs to, on each side; empty when not known.
  public let realBoots: [Int]
  public let modelBoots: [Int]

  /// Accesses of the real trace matched by the model.
  public var matched: Int { steps.reduce(0) { if case .match = $1 { $0 + 1 } else { $0 } } }
  /// True when every access of each side is matched by the other.
  public var allMatch: Bool { matched == real.count && matched == model.count }

  /// Aligns two traces of `device`: each is normalised on its own, boot by boot
  /// (`AddressNormaliser`), then
  /// a longest common subsequence under `NormalisedAccess.matches` pairs their accesses.
  public init(real: OracleTrace, model: OracleTrace, device: OracleDevice) {
    let normaliser = AddressNormaliser(device: device)
    self.init(
      real: normaliser.normalise(real), model: normaliser.normalise(model),
      realBoots: Self.boots(of: real), modelBoots: Self.boots(of: model))
  }

  public init(
    real: [NormalisedAccess], model: [NormalisedAccess], realBoots: [Int] = [], modelBoots: [Int] = []
  ) {
    self.real = real
    self.model = model
    self.realBoots = realBoots
    self.modelBoots = modelBoots
    steps = Self.align(real, model)
  }

  /// The boot of each access of a trace (accesses before any boot marker count as boot 1).
  static func boots(of trace: OracleTrace) -> [Int] {
    var boot = 1
    var out: [Int] = []
    for event in trace.events {
      switch event {
      case .bootStart(let n): boot = n
      case .access: out.append(boot)
      case .annotation: break
      }
    }
    return out
  }

  /// Longest common subsequence by dynamic programming (traces hold hundreds to a few thousand
  /// accesses); ties prefer keeping order, so a substitution reads as real-only then model-only.
  static func align(_ a: [NormalisedAccess], _ b: [NormalisedAccess]) -> [Step] {
    let n = a.count
    let m = b.count
    let width = m + 1
    // suffix[i][j]: LCS length of a[i...] and b[j...].
    var suffix = [Int32](repeating: 0, count: (n + 1) * width)
    if n > 0 && m > 0 {
      for i in stride(from: n - 1, through: 0, by: -1) {
        for j in stride(from: m - 1, through: 0, by: -1) {
          suffix[i * width + j] =
            a[i].matches(b[j])
            ? suffix[(i + 1) * width + j + 1] + 1
            : max(suffix[(i + 1) * width + j], suffix[i * width + j + 1])
        }
      }
    }
    var steps: [Step] = []
    var i = 0
    var j = 0
    while i < n || j < m {
      if i < n, j < m, a[i].matches(b[j]), suffix[i * width + j] == suffix[(i + 1) * width + j + 1] + 1 {
        steps.append(.match(real: i, model: j))
        i += 1
        j += 1
      } else if i < n, j == m || suffix[(i + 1) * width + j] >= suffix[i * width + j + 1] {
        steps.append(.realOnly(i))
        i += 1
      } else {
        steps.append(.modelOnly(j))
        j += 1
      }
    }
    return steps
  }

  /// The first divergence, with `before` aligned steps before it and `after` steps from it.
  public func firstDivergence(before: Int = 3, after: Int = 4) -> Divergence? {
    guard let k = steps.firstIndex(where: { if case .match = $0 { false } else { true } }) else { return nil }
    var realIndex = real.count
    var modelIndex = model.count
    for step in steps[k...] {
      switch step {
      case .match(let r, let m):
        realIndex = min(realIndex, r)
        modelIndex = min(modelIndex, m)
      case .realOnly(let r): realIndex = min(realIndex, r)
      case .modelOnly(let m): modelIndex = min(modelIndex, m)
      }
      if realIndex < real.count && modelIndex < model.count { break }
    }
    let context = steps[max(0, k - before)..<min(steps.count, k + after)].map(line)
    return Divergence(realIndex: realIndex, modelIndex: modelIndex, context: context)
  }

  /// One step as a report line: `  = ` matched, `  - ` real only, `  + ` model only, with the
  /// 1-based access numbers on each side.
  func line(_ step: Step) -> String {
    switch step {
    case .match(let r, let m): "  = real #\(r + 1) model #\(m + 1)  \(real[r])"
    case .realOnly(let r): "  - real #\(r + 1) only       \(real[r])"
    case .modelOnly(let m): "  + model #\(m + 1) only      \(model[m])"
    }
  }

  /// ` (boot N)` for an access whose boot is known.
  static func boot(_ boots: [Int], _ index: Int) -> String {
    boots.indices.contains(index) ? " (boot \(boots[index]))" : ""
  }

  /// The report: the first divergence with context (when there is one), then `match: N/M`
  /// (real accesses matched / real accesses) as the last line.
  public var report: String {
    var out: [String] = []
    if let d = firstDivergence() {
      out.append(
        "first divergence at real access #\(d.realIndex + 1) of \(real.count)\(Self.boot(realBoots, d.realIndex)), "
          + "model access #\(d.modelIndex + 1) of \(model.count)\(Self.boot(modelBoots, d.modelIndex)):")
      out += d.context
      if matched == real.count {
        out.append("the model has \(model.count - matched) access(es) the real trace lacks")
      }
    }
    out.append("match: \(matched)/\(real.count)")
    return out.joined(separator: "\n")
  }
}
