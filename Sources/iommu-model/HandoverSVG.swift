import IOMMUModel

/// The matrix as an SVG heat map: one row per combination, one cell per numeric column, red as
/// a harm grows (corruption, lost devices, faults...), green for devices recovered, each cell
/// scaled to its column's largest value and labelled with the number.
enum HandoverSVG {
  static var metrics: [(name: String, good: Bool, value: @Sendable (MatrixRow) -> Int)] {
    [
      ("corruptedNewKernelBytes", false, \.corruptedNewKernelBytes),
      ("corruptedCrashKernelBytes", false, \.corruptedCrashKernelBytes),
      ("corruptedDumpBytes", false, \.corruptedDumpBytes),
      ("unbackedTransactions", false, \.unbackedTransactions),
      ("blockedTransactions", false, \.blockedTransactions),
      ("faults", false, \.faults),
      ("devicesRecovered", true, \.devicesRecovered),
      ("devicesLost", false, \.devicesLost),
      ("orderingViolations", false, \.orderingViolations),
    ]
  }

  static func render(_ rows: [MatrixRow]) -> String {
    let labelWidth = 430
    let cell = (w: 92, h: 18)
    let header = 150
    let width = labelWidth + cell.w * (metrics.count + 1) + 10
    let height = header + cell.h * rows.count + 10
    let maxima = metrics.map { m in max(1, rows.map(m.value).max() ?? 1) }
    var out = [
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"monospace\" font-size=\"11\">",
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
      "<text x=\"4\" y=\"16\" font-size=\"14\">IOMMU handover matrix: red = harm (scaled per column), green = devices recovered</text>",
    ]
    for (j, name) in (metrics.map(\.name) + ["initResult"]).enumerated() {
      let x = labelWidth + j * cell.w + cell.w / 2
      out.append("<text transform=\"translate(\(x),\(header - 6)) rotate(-45)\">\(name)</text>")
    }
    for (i, r) in rows.enumerated() {
      let y = header + i * cell.h
      out.append("<text x=\"4\" y=\"\(y + 13)\">\(escape("\(r.iommu) \(r.scenario) \(r.variant) \(r.clients)"))</text>")
      for (j, m) in metrics.enumerated() {
        let v = m.value(r)
        let t = Double(v) / Double(maxima[j])
        let color = m.good ? mix(t, to: (40, 160, 60)) : mix(t, to: (200, 30, 30))
        let x = labelWidth + j * cell.w
        out.append("<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell.w - 2)\" height=\"\(cell.h - 2)\" fill=\"\(color)\"/>")
        out.append("<text x=\"\(x + 4)\" y=\"\(y + 13)\" fill=\"\(t > 0.6 ? "white" : "black")\">\(v)</text>")
      }
      let x = labelWidth + metrics.count * cell.w
      let ok = r.initResult.split(separator: ";").allSatisfy { $0 == "0" }
      out.append(
        "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell.w - 2)\" height=\"\(cell.h - 2)\" fill=\"\(ok ? "#e8f4e8" : "#f4c0c0")\"/>"
      )
      out.append("<text x=\"\(x + 4)\" y=\"\(y + 13)\">\(escape(r.initResult))</text>")
    }
    out.append("</svg>")
    return out.joined(separator: "\n")
  }

  /// White at 0, `to` at 1.
  private static func mix(_ t: Double, to c: (Int, Int, Int)) -> String {
    func ch(_ v: Int) -> Int { Int(255 - (255 - Double(v)) * min(1, max(0, t))) }
    return "rgb(\(ch(c.0)),\(ch(c.1)),\(ch(c.2)))"
  }

  private static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
  }
}
