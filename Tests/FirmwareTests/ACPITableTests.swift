import Firmware
import IOMMUModelTesting
import Testing

@Suite("ACPI table header and iasl raw dumps")
struct ACPITableTests {
  @Test("a DMAR table from a real machine: header fields and checksum")
  func realDMAR() throws {
    let text = try RepositoryPaths.text(
      RepositoryPaths.shared.appendingPathComponent("oracle-data/acpi/DMAR_surface-pro-4_skylake.dsl"))
    let bytes = try ACPITableSource.bytes(fromDisassembly: text, source: "DMAR_surface-pro-4_skylake.dsl")
    #expect(bytes.count == 0x138)
    let h = try ACPITableHeader(bytes, expecting: "DMAR")
    #expect(h.signature == "DMAR" && h.length == 0x138 && h.revision == 1 && h.oemID == "MSFT  ")
    #expect(h.checksumValid)
  }

  @Test("a wrong signature, a short table and a broken dump are named")
  func errors() throws {
    var bytes = [UInt8](repeating: 0, count: 36)
    bytes[0...3] = [0x49, 0x56, 0x52, 0x53]  // IVRS
    bytes[4] = 36
    #expect(throws: FirmwareError.badSignature(expected: "DMAR", found: "IVRS")) {
      try ACPITableHeader(bytes, expecting: "DMAR")
    }
    bytes[4] = 48
    #expect(throws: FirmwareError.badLength(table: "IVRS", headerLength: 48, available: 36)) {
      try ACPITableHeader(bytes)
    }
    #expect(throws: FirmwareError.noRawData(source: "x.dsl")) {
      try ACPITableSource.bytes(fromDisassembly: "nothing", source: "x.dsl")
    }
    #expect(throws: FirmwareError.badHexLine(source: "x.dsl", line: 2, text: "    0000: 44 4G")) {
      try ACPITableSource.bytes(fromDisassembly: "Raw Table Data: Length 2\n    0000: 44 4G", source: "x.dsl")
    }
    let r = TableReader(table: "DMAR", bytes: [1, 2])
    #expect(throws: FirmwareError.truncated(table: "DMAR", offset: 1, needed: 4, available: 1)) { try r.u32(1) }
  }
}
