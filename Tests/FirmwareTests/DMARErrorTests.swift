import Firmware
import Testing

@Suite("DMAR: truncated and corrupted tables give the kernel's verdict, with table and offset")
struct DMARErrorTests {
  let skylake: [UInt8]
  init() throws { skylake = try TableFixtures.bytes("DMAR_surface-pro-4_skylake.dsl") }

  @Test("a file shorter than its header's length is a bad length")
  func shortFile() {
    #expect(throws: FirmwareError.badLength(table: "DMAR", headerLength: 0x138, available: 0x100)) {
      try DMARTable(bytes: Array(skylake.prefix(0x100)))
    }
  }

  @Test("a table cut inside the ANDD at 0x100 runs past its end (Record passes table end)")
  func cutInsideStructure() {
    #expect(throws: FirmwareError.structurePastEnd(table: "DMAR", offset: 0x100, length: 0x1C, available: 0x10)) {
      try DMARTable(bytes: TableFixtures.cut(skylake, to: 0x110))
    }
  }

  @Test("a table cut inside the structure header and one shorter than 48 bytes are truncated")
  func cutInsideHeaders() {
    #expect(throws: FirmwareError.structurePastEnd(table: "DMAR", offset: 0x100, length: 4, available: 2)) {
      try DMARTable(bytes: TableFixtures.cut(skylake, to: 0x102))
    }
    #expect(throws: FirmwareError.truncated(table: "DMAR", offset: 36, needed: 12, available: 4)) {
      try DMARTable(bytes: TableFixtures.cut(skylake, to: 40))
    }
  }

  @Test("a DRHD whose length runs past the table")
  func drhdPastEnd() {
    #expect(throws: FirmwareError.structurePastEnd(table: "DMAR", offset: 0x48, length: 0x140, available: 0xF0)) {
      try DMARTable(bytes: TableFixtures.patch(skylake, at: 0x4A, UInt16(0x140)))
    }
  }

  @Test("a host address width below PAGE_SHIFT - 1 is Invalid DMAR haw")
  func invalidHAW() {
    let field = "host address width (Invalid DMAR haw)"
    #expect(throws: FirmwareError.invalidField(table: "DMAR", offset: 36, field: field, value: 10)) {
      try DMARTable(bytes: TableFixtures.patch(skylake, at: 36, UInt8(10)))
    }
  }

  @Test("a DRHD shorter than its 16 fixed bytes, a zero-length and an overlong device scope")
  func badLengths() {
    #expect(throws: FirmwareError.invalidField(table: "DMAR", offset: 0x32, field: "DRHD length", value: 8)) {
      try DMARTable(bytes: TableFixtures.patch(skylake, at: 0x32, UInt16(8)))
    }
    #expect(throws: FirmwareError.invalidField(table: "DMAR", offset: 0x41, field: "device scope length", value: 0)) {
      try DMARTable(bytes: TableFixtures.patch(skylake, at: 0x41, UInt8(0)))
    }
    #expect(throws: FirmwareError.structurePastEnd(table: "DMAR", offset: 0x40, length: 0x10, available: 8)) {
      try DMARTable(bytes: TableFixtures.patch(skylake, at: 0x41, UInt8(0x10)))
    }
  }

  @Test("an ANDD name without its NUL fails the parse, as dmar_parse_one_andd() returns -EINVAL")
  func anddNotTerminated() {
    var t = skylake
    for i in 0xDE..<0xE4 { t[i] = 0x58 }
    let reason = "[Firmware Bug]: Your BIOS is broken; ANDD object name is not NUL-terminated"
    #expect(throws: FirmwareError.malformed(table: "DMAR", offset: 0xD0, reason: reason)) {
      try DMARTable(bytes: TableFixtures.fixChecksum(t))
    }
  }

  @Test("a zero-length structure ends the walk with a finding; what came before is kept")
  func zeroLength() throws {
    let t = try DMARTable(bytes: TableFixtures.fixChecksum(TableFixtures.patch(skylake, at: 0x8A, UInt16(0))))
    #expect(t.structures.count == 2)
    #expect(t.findings == [.init(table: "DMAR", offset: 0x88, message: "[Firmware Bug]: Invalid 0-length structure")])
  }

  @Test("a bad checksum is a finding in ACPICA's words, not an error")
  func badChecksum() throws {
    let t = try DMARTable(bytes: TableFixtures.patch(skylake, at: 9, UInt8(0x0C)))
    #expect(t.hardwareUnits.count == 2)
    #expect(
      t.findings == [
        .init(table: "DMAR", offset: 9, message: "Incorrect checksum in table [DMAR] - 0x0C, should be 0x0B")
      ])
  }

  @Test("an unaligned RMRR and an RHSA without its unit are the kernel's FW_BUG warnings")
  func rmrrAndRHSAFindings() throws {
    let bad = TableFixtures.fixChecksum(TableFixtures.patch(skylake, at: 0x98, UInt64(0x3E2E_0000)))
    #expect(
      try DMARTable(bytes: bad).findings == [
        .init(
          table: "DMAR", offset: 0x88,
          message: "[Firmware Bug]: Your BIOS is broken; bad RMRR [0x000000003e2e0000-0x000000003e2e0000]")
      ])

    // A DRHD at 0xfed90000 (INCLUDE_PCI_ALL, no scope), then RHSAs for it and for 0xfed91000.
    let drhd: [UInt8] = [0, 0, 16, 0, 1, 0, 0, 0] + TableFixtures.le(UInt64(0xFED9_0000))
    func rhsa(_ base: UInt64) -> [UInt8] {
      [3, 0, 20, 0, 0, 0, 0, 0] + TableFixtures.le(base) + TableFixtures.le(UInt32(1))
    }
    let body = [38, 0] + [UInt8](repeating: 0, count: 10) + drhd + rhsa(0xFED9_0000) + rhsa(0xFED9_1000)
    let t = try DMARTable(bytes: TableFixtures.table("DMAR", body: body))
    #expect(t.hardwareAffinities.map(\.proximityDomain) == [1, 1])
    #expect(
      t.findings == [
        .init(
          table: "DMAR", offset: 84,
          message: "[Firmware Bug]: Your BIOS is broken; RHSA refers to non-existent DMAR unit at fed91000")
      ])
  }

  @Test("a DRHD at address 0 is parsed, marked as the reason the kernel leaves VT-d off")
  func drhdAtZero() throws {
    let t = try DMARTable(bytes: TableFixtures.fixChecksum(TableFixtures.patch(skylake, at: 0x38, UInt64(0))))
    #expect(t.hardwareUnits.map(\.registerBase) == [0, 0xFED9_1000])
    #expect(
      t.findings == [
        .init(
          table: "DMAR", offset: 0x38, severity: .rejectedByKernel,
          message: "[Firmware Bug]: Your BIOS is broken; DMAR reported at address 0!")
      ])
  }

  @Test("a table without DRHD is parsed, with the kernel's FW_BUG warning")
  func noDRHD() throws {
    let t = try DMARTable(bytes: TableFixtures.table("DMAR", body: [38, 0] + [UInt8](repeating: 0, count: 10)))
    #expect(t.structures.isEmpty)
    #expect(t.findings.map(\.message) == ["[Firmware Bug]: No DRHD structure found in DMAR table"])
  }

  @Test("an unknown device scope type is kept, with the kernel's warning")
  func unknownScope() throws {
    let t = try DMARTable(bytes: TableFixtures.fixChecksum(TableFixtures.patch(skylake, at: 0x40, UInt8(9))))
    #expect(t.hardwareUnits[0].scopes[0].kind == .unknown(9))
    #expect(t.findings == [.init(table: "DMAR", offset: 0x40, message: "Unsupported device scope")])
  }
}
