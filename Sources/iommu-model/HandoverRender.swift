import Foundation
import IOMMUModel

/// How `handover` prints a run and the matrix.
enum HandoverRender {
  /// The timeline, then the outcome.
  static func text(_ o: HandoverOutcome) -> String {
    let r = o.row
    var out = ["handover: \(r.iommu), \(r.scenario), variant \(r.variant), clients \(r.clients)", "", "timeline:"]
    out += o.timeline.map { "  \($0)" }
    out += ["", "DMA by stage:"]
    for (stage, dma) in o.stages { out.append("  \(stage.rawValue): \(dma.summary)") }
    out += ["", "clients:"]
    for c in o.clients {
      out.append(
        "  \(c.name) (\(c.quiesced ? "quiesced" : "not quiesced")): \(c.works ? "works again" : "lost"); \(c.dma.summary)"
      )
    }
    out += ["", "outcome:"]
    let width = MatrixRow.columns.map(\.count).max() ?? 0
    for (k, v) in zip(MatrixRow.columns, r.values) {
      out.append("  " + k + String(repeating: " ", count: width - k.count + 2) + v)
    }
    out.append("  next kernel boot: \(o.nextKernelPollingMicroseconds) µs polling and delays")
    for v in o.violations { out.append("  violation: \(v)") }
    return out.joined(separator: "\n")
  }

  struct OutcomeJSON: Encodable {
    struct Stage: Encodable {
      var stage: String
      var dma: DMAStats
    }
    struct Client: Encodable {
      var name: String
      var quiesced: Bool
      var works: Bool
      var dma: DMAStats
    }
    var row: MatrixRow
    var stages: [Stage]
    var clients: [Client]
    var nextKernelPollingMicroseconds: UInt64
    var violations: [String]
    var timeline: [String]
  }

  static func json(_ o: HandoverOutcome) -> String {
    encode(
      OutcomeJSON(
        row: o.row, stages: o.stages.map { .init(stage: $0.stage.rawValue, dma: $0.dma) },
        clients: o.clients.map { .init(name: $0.name, quiesced: $0.quiesced, works: $0.works, dma: $0.dma) },
        nextKernelPollingMicroseconds: o.nextKernelPollingMicroseconds, violations: o.violations,
        timeline: o.timeline.map(\.description)))
  }

  static func json(_ rows: [MatrixRow]) -> String { encode(rows) }

  private static func encode<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
  }

  /// An aligned text table.
  static func table(_ rows: [MatrixRow]) -> String {
    let cells = [MatrixRow.columns] + rows.map(\.values)
    let widths = MatrixRow.columns.indices.map { i in cells.map { $0[i].count }.max() ?? 0 }
    return cells.map { line in
      zip(line, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
        .trimmingTrailingSpaces
    }.joined(separator: "\n")
  }

  static func markdown(_ rows: [MatrixRow]) -> String {
    var out = ["| " + MatrixRow.columns.joined(separator: " | ") + " |"]
    out.append("|" + String(repeating: " --- |", count: MatrixRow.columns.count))
    for r in rows { out.append("| " + r.values.joined(separator: " | ") + " |") }
    return out.joined(separator: "\n")
  }
}

extension String {
  var trimmingTrailingSpaces: String {
    var s = self
    while s.last == " " { s.removeLast() }
    return s
  }
}
