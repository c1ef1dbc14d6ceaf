import Foundation
import HostState
import Testing

@Suite("Fuzzing the dump reader and the table reader through the report")
struct ParserFuzzTests {
  @Test("mutated lspci dumps: libpci either reads them or throws a LibPCIError; the process never exits")
  func dumps() throws {
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let base = try String(contentsOfFile: HostFixtures.dumps + "/root-port-acs.lspci", encoding: .utf8)
      .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let pieces = ["", " ", "  ", "zz", "ff", "1000:", "00:1f.7 x", "0000:00:00.0", "\t", "ffff: 00", "::", "7"]
    var rng = SeededRandom(seed: 0xD0D0)
    var read = 0
    var refused = 0
    for round in 0..<60 {
      var lines = Array(base.prefix(12 + round % 40))
      for _ in 0..<3 {
        let i = Int.random(in: 0..<lines.count, using: &rng)
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: lines[i] = pieces.randomElement(using: &rng) ?? ""
        case 1: lines[i] += pieces.randomElement(using: &rng) ?? ""
        case 2: lines.remove(at: i)
        default:
          var chars = Array(lines[i])
          if !chars.isEmpty { chars[Int.random(in: 0..<chars.count, using: &rng)] = "g" }
          lines[i] = String(chars)
        }
        if lines.isEmpty { lines = ["00:00.0 x"] }
      }
      let path = dir + "/fuzz.lspci"
      try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
      do {
        let functions = try LibPCI.scan(.dump(path: path))
        read += 1
        #expect(functions.allSatisfy { $0.config.bytesRead <= 4096 })
        _ = HostFixtures.report(dump: path)
      } catch {
        refused += 1
        #expect(!error.message.isEmpty)
      }
    }
    #expect(read + refused == 60)
  }

  @Test("random and mutated DMAR, IVRS and IORT bytes: every table gets a status, no trap")
  func tables() throws {
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let dmar = [UInt8](
      try Data(contentsOf: URL(fileURLWithPath: HostFixtures.laptop + "/sys/firmware/acpi/tables/DMAR")))
    var rng = SeededRandom(seed: 0xAC91)
    for round in 0..<60 {
      var bytes: [UInt8]
      if round % 3 == 0 {
        bytes = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      } else {
        bytes = dmar
        for _ in 0..<4 { bytes[Int.random(in: 36..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
        bytes = Array(bytes.prefix(Int.random(in: 36...bytes.count, using: &rng)))
        bytes[4] = UInt8(truncatingIfNeeded: bytes.count)
        bytes[5] = UInt8(truncatingIfNeeded: bytes.count >> 8)
      }
      for name in ["DMAR", "IVRS", "IORT"] {
        var b = bytes
        if b.count >= 4 { b[0..<4] = ArraySlice(Array(name.utf8)) }
        try Data(b).write(to: URL(fileURLWithPath: dir + "/" + name))
      }
      let report = HostFixtures.report(acpi: dir)
      #expect(report.firmware.count == 3)
      for t in report.firmware {
        #expect(["parsed", "malformed"].contains(t.status))
        #expect((t.status == "malformed") == (t.error != nil))
      }
    }
  }
}
