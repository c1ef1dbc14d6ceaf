import ArgumentParser
import IOMMUModel

/// `iommu-model bench`: accesses per second through the register abstractions, against a raw
/// pointer loop in the same run. Build with `-c release` for meaningful figures.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure typed register accesses per second through the simulated register file.")

  @Option(help: "Accesses per measurement without recording.")
  var iterations = 50_000_000

  @Option(help: "Accesses per measurement with recording (the trace is cleared every million).")
  var recordedIterations = 10_000_000

  func run() throws {
    var rows: [(String, Double)] = []
    let raw = rawLoop(iterations)
    rows.append(("raw pointer load/store", raw))
    let plain = makeFile()
    rows.append(("typed read", try measure(iterations) { _ in _ = try plain.read(BenchCSR.self) }))
    rows.append(
      (
        "typed write",
        try measure(iterations) { i in
          try plain.write(BenchCSR(raw: UInt32(truncatingIfNeeded: i) & 0x3))
        }
      ))
    rows.append(
      (
        "typed read-modify-write",
        try measure(iterations / 2, accessesPerIteration: 2) { i in
          try plain.update(BenchCSR.self) { $0.enabled = i & 1 == 0 }
        }
      ))
    let recorded = RecordingRegisterIO(makeFile())
    let trace = recorded.trace
    rows.append(
      (
        "typed read, recorded",
        try measure(recordedIterations, trace: trace) { _ in _ = try recorded.read(BenchCSR.self) }
      ))
    rows.append(
      (
        "typed write, recorded",
        try measure(recordedIterations, trace: trace) { i in
          try recorded.write(BenchCSR(raw: UInt32(truncatingIfNeeded: i) & 0x3))
        }
      ))
    rows.append(
      (
        "typed read-modify-write, recorded",
        try measure(recordedIterations / 2, accessesPerIteration: 2, trace: trace) { i in
          try recorded.update(BenchCSR.self) { $0.enabled = i & 1 == 0 }
        }
      ))
    print("benchmark                             accesses/s    ratio to raw")
    for (name, rate) in rows {
      print(
        pad(name, 36) + pad(formatRate(rate), 14, left: true)
          + pad(formatRatio(raw / rate), 16, left: true))
    }
    let worstPlain = rows[1...3].map(\.1).min() ?? 0
    let worstRecorded = rows[4...6].map(\.1).min() ?? 0
    print(
      "target: >= 100M/s without recording (\(worstPlain >= 100e6 ? "met" : "NOT met"): slowest \(formatRate(worstPlain)))"
    )
    print(
      "target: >= 20M/s with recording (\(worstRecorded >= 20e6 ? "met" : "NOT met"): slowest \(formatRate(worstRecorded)))"
    )
  }

  private func makeFile() -> SimulatedRegisterFile {
    SimulatedRegisterFile(
      size: 0x1000,
      registers: [
        .init(
          "CSR", offset: BenchCSR.offset, width: .dword, readOnly: 0x3_0000, writeOneToClear: 0xf00)
      ])
  }

  /// The baseline: the same number of 32-bit loads or stores through a raw pointer.
  private func rawLoop(_ n: Int) -> Double {
    // SAFETY: 0x1000 bytes are allocated and every index below stays inside them.
    let p = UnsafeMutablePointer<UInt32>.allocate(capacity: 0x400)
    p.initialize(repeating: 0, count: 0x400)
    defer { p.deallocate() }
    var sink: UInt32 = 0
    let start = ContinuousClock.now
    for i in 0..<n {
      if i & 1 == 0 { sink &+= p[0x12] } else { p[0x12] = UInt32(truncatingIfNeeded: i) ^ sink }
    }
    let seconds = (ContinuousClock.now - start).seconds
    blackHole(sink &+ p[0x12])
    return Double(n) / seconds
  }

  @inline(__always)
  private func measure(
    _ n: Int, accessesPerIteration: Int = 1, trace: AccessTrace? = nil, _ body: (Int) throws -> Void
  ) throws -> Double {
    let start = ContinuousClock.now
    var i = 0
    while i < n {
      let chunk = min(n - i, 1_000_000)
      for j in i..<(i + chunk) { try body(j) }
      trace?.removeAll()
      i += chunk
    }
    return Double(n * accessesPerIteration) / (ContinuousClock.now - start).seconds
  }
}

/// A 32-bit control/status register shaped like RISC-V CQCSR: EN, IE read-write; MF and three
/// more error bits write-1-to-clear; ON and BUSY read-only.
struct BenchCSR: Register {
  static let offset = 0x48
  static let name = "CSR"
  static let writeOneToClear: UInt32 = 0xf00
  var raw: UInt32
  init(raw: UInt32) { self.raw = raw }
  var enabled: Bool {
    get { raw[bit: 0] }
    set { raw[bit: 0] = newValue }
  }
}

@inline(never) func blackHole<T>(_ x: T) {}

extension Duration {
  var seconds: Double {
    let (s, a) = components
    return Double(s) + Double(a) / 1e18
  }
}

private func formatRate(_ r: Double) -> String {
  r >= 1e9 ? "\(rounded(r / 1e9))G" : "\(rounded(r / 1e6))M"
}

private func formatRatio(_ r: Double) -> String { "\(rounded(r))x slower" }

private func rounded(_ x: Double) -> String {
  let v = (x * 10).rounded() / 10
  return String(v)
}

private func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
  let fill = String(repeating: " ", count: max(0, n - s.count))
  return left ? fill + s : s + fill
}
