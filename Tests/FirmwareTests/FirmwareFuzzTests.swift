import Firmware
import Testing

/// SplitMix64: a small seeded generator, so every run feeds the same bytes.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

@Suite("Every parser, fed random and mutated bytes: a result or a FirmwareError, never a crash")
struct FirmwareFuzzTests {
  static let casesPerParser = 2000

  /// A mutation of `base`: flipped bytes, a cut (header length kept or fixed), a random length
  /// written somewhere, or bytes of noise behind a valid header.
  static func mutate(_ base: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    var t = base
    switch Int.random(in: 0..<5, using: &rng) {
    case 0:
      for _ in 0..<Int.random(in: 1...8, using: &rng) {
        t[Int.random(in: 0..<t.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
      }
    case 1:
      t = Array(t.prefix(Int.random(in: 0...t.count, using: &rng)))
    case 2:
      let n = Int.random(in: 36...t.count, using: &rng)
      t = TableFixtures.cut(t, to: n)
    case 3:
      let at = Int.random(in: 36..<(t.count - 1), using: &rng)
      let width = [1, 2, 4].randomElement(using: &rng)!
      for i in 0..<width where at + i < t.count { t[at + i] = UInt8.random(in: 0...255, using: &rng) }
      if Bool.random(using: &rng) { t[at] = [0, 1, 0xFF].randomElement(using: &rng)! }
    default:
      let noise = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      t = TableFixtures.table(String(decoding: base[0..<4], as: UTF8.self), body: noise)
    }
    return t.count >= 10 && Bool.random(using: &rng) ? TableFixtures.fixChecksum(t) : t
  }

  /// Parses with the entry point and, on success, exercises the derived views; checks that
  /// every offset it reports lies inside the table. Returns (invariants hold, parsed).
  static func exercise(_ bytes: [UInt8]) -> (ok: Bool, parsed: Bool) {
    let table: FirmwareTable
    do throws(FirmwareError) {
      table = try FirmwareTable(bytes: bytes)
    } catch {
      return (!error.description.isEmpty, false)
    }
    let length = Int(table.header.length)
    // Findings may point at the table's end (e.g. where a missing DRHD was expected).
    guard table.findings.allSatisfy({ $0.offset <= length }) else { return (false, true) }
    guard !table.summaryLines.isEmpty else { return (false, true) }
    var offsets: [Int] = []
    switch table {
    case .dmar(let t):
      offsets += t.structures.map(\.offset)
      offsets += t.hardwareUnits.flatMap { $0.scopes.map(\.offset) }
      _ = t.hardwareUnitsInKernelOrder.map(\.registerSetSize)
    case .iort(let t):
      offsets += t.nodes.map(\.offset) + t.nodes.flatMap { $0.idMappings.map(\.offset) }
      for n in t.nodes.prefix(4) {
        _ = t.iommuMappings(of: n)
        _ = t.platformStreamIDs(of: n)
        _ = t.mapID(0x100, from: n, to: IORTNodeType.msiTypes)
      }
      _ = t.streamID(forRequesterID: 0x0100, segment: 0)
    case .ivrs(let t):
      offsets += t.blocks.map(\.offset) + t.hardwareDefinitions.flatMap { $0.entries.map(\.offset) }
      _ = t.kernelIOMMUs
      _ = t.memoryDefinitions.map(\.devices)
    }
    return (offsets.allSatisfy { $0 >= 0 && $0 < length }, true)
  }

  static let bases: [String: [[UInt8]]] = {
    func load(_ names: [String]) -> [[UInt8]] { names.compactMap { try? TableFixtures.bytes($0) } }
    return [
      "DMAR": load(["DMAR_surface-pro-4_skylake.dsl", "DMAR_surface-pro-10-business_meteorlake.dsl"]),
      "IORT": load([IORTTests.laptop7]) + [SyntheticIORT.bytes, SyntheticIORT.bytes, SyntheticIORT.bytes],
      "IVRS": load([IVRSTests.renoir, IVRSTests.picasso]) + [IVRSTests.synthetic],
    ]
  }()

  @Test("2,000 mutated or random DMAR tables") func dmar() throws { try run("DMAR") }
  @Test("2,000 mutated or random IORT tables") func iort() throws { try run("IORT") }
  @Test("2,000 mutated or random IVRS tables") func ivrs() throws { try run("IVRS") }

  func run(_ signature: String) throws {
    let bases = try #require(Self.bases[signature])
    #expect(bases.count >= 2)
    var rng = SplitMix64(state: UInt64(signature.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
    var parsed = 0
    for i in 0..<Self.casesPerParser {
      let result = Self.exercise(Self.mutate(bases[i % bases.count], &rng))
      if !result.ok { Issue.record("case \(i): an offset outside the table") }
      if result.parsed { parsed += 1 }
    }
    // Both outcomes occur: the mutations are neither all fatal nor all harmless.
    #expect(parsed > 0 && parsed < Self.casesPerParser)
  }

  @Test("2,000 mutated iasl Raw Table Data blocks: bytes or a FirmwareError")
  func disassemblies() throws {
    let file = try String(
      contentsOf: TableFixtures.directory.appendingPathComponent(IVRSTests.picasso), encoding: .utf8)
    let start = try #require(file.range(of: "Raw Table Data")).lowerBound
    // The block's title and its first six lines: what the reader handles, at a small cost per case.
    let text = Array(
      file[start...].split(separator: "\n", omittingEmptySubsequences: false).prefix(8).joined(separator: "\n").utf8)
    var rng = SplitMix64(state: 7)
    let alphabet = Array("0123456789ABCDEFG: /\n".utf8)
    for _ in 0..<Self.casesPerParser {
      var t = text
      for _ in 0..<Int.random(in: 1...6, using: &rng) {
        t[Int.random(in: 0..<t.count, using: &rng)] = alphabet.randomElement(using: &rng)!
      }
      do throws(FirmwareError) {
        _ = try FirmwareTableLoader.table(fromDisassembly: String(decoding: t, as: UTF8.self), source: "fuzz.dsl")
      } catch {
        #expect(!error.description.isEmpty)
      }
    }
  }
}
