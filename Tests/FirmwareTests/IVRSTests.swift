import Firmware
import Testing

@Suite("IVRS: AMD IOMMU definition blocks from real Ryzen machines")
struct IVRSTests {
  typealias E = IVHDDeviceEntry
  static let renoir = "IVRS_surface-laptop-4-amd_ryzen-renoir.dsl"
  static let picasso = "IVRS_surface-laptop-3-amd_ryzen-picasso.dsl"

  /// The entries both real tables list in every IVHD block, from offset `at`.
  static func commonEntries(at: Int, alias: UInt16) -> [E] {
    [
      E(offset: at, type: 0x03, deviceID: 0x0008, settings: 0, kind: .rangeStart),
      E(offset: at + 4, type: 0x04, deviceID: 0xFFFE, settings: 0, kind: .rangeEnd),
      E(offset: at + 8, type: 0x43, deviceID: 0xFF00, settings: 0, kind: .aliasRangeStart(alias: alias)),
      E(offset: at + 16, type: 0x04, deviceID: 0xFFFF, settings: 0, kind: .rangeEnd),
      E(offset: at + 20, type: 0x00, deviceID: 0, settings: 0, kind: .padding),
      E(
        offset: at + 24, type: 0x48, deviceID: 0, settings: 0,
        kind: .special(handle: 0, sourceDeviceID: 0x00A0, variety: .hpet)),
      E(
        offset: at + 32, type: 0x48, deviceID: 0, settings: 0xD7,
        kind: .special(handle: 0x21, sourceDeviceID: 0x00A0, variety: .ioapic)),
      E(
        offset: at + 40, type: 0x48, deviceID: 0, settings: 0,
        kind: .special(handle: 0x22, sourceDeviceID: 0x0001, variety: .ioapic)),
    ]
  }

  @Test("Renoir: IVinfo, IVHD 10h at 0xfdf00000 with feature 0x80048f6f, 11h with its EFR image, 40h with an ACPI HID")
  func renoir() throws {
    let t = try IVRSTable(bytes: TableFixtures.bytes(Self.renoir))
    #expect(t.header.length == 0x147 && t.header.checksumValid && t.findings.isEmpty)
    #expect(t.ivInfo.rawValue == 0x0020_3043 && t.ivInfo.efrSupported && t.ivInfo.dmaRemap)
    #expect(t.ivInfo.physicalAddressSize == 48 && t.ivInfo.virtualAddressSize == 64)
    #expect(t.ivInfo.guestVirtualAddressSize == 2)
    let hd = t.hardwareDefinitions
    #expect(hd.map(\.type) == [0x10, 0x11, 0x40] && hd.map(\.offset) == [0x30, 0x78, 0xD0])
    #expect(hd.allSatisfy { $0.baseAddress == 0xFDF0_0000 && $0.deviceID == 0x0002 && $0.capabilityOffset == 0x40 })
    #expect(hd.allSatisfy { $0.flags == 0xB0 && $0.pciSegment == 0 && $0.iommuInfo == 0 })
    #expect(hd[0].featureReporting == 0x8004_8F6F && hd[0].efrImage == nil)
    #expect(hd[1].featureReporting == 0x0004_0200 && hd[1].efrImage == 0x206D_73EF_2225_4ADE && hd[1].efr2Image == 0)
    #expect(hd[2].efrImage == 0x206D_73EF_2225_4ADE && !hd[2].hostAddressTranslationDisabled)
    #expect(hd[0].entries == Self.commonEntries(at: 0x48, alias: 0x00A5))
    #expect(hd[1].entries == Self.commonEntries(at: 0xA0, alias: 0x00A5))
    #expect(hd[2].entries.dropLast() == Self.commonEntries(at: 0xF8, alias: 0x00A5)[...])
    #expect(
      hd[2].entries.last
        == E(
          offset: 0x128, type: 0xF0, deviceID: 0x00A5, settings: 0x40,
          kind: .acpiHID(hid: "AMDI0022", cid: 0, uidFormat: 2, uid: "\\_SB.FUR0")))
    #expect(t.kernelIVHDType == 0x40 && t.kernelIOMMUs.map(\.offset) == [0xD0])
  }

  @Test("Picasso: IVHD 10h and 11h at 0xfd200000; the kernel reads type 11h")
  func picasso() throws {
    let t = try IVRSTable(bytes: TableFixtures.bytes(Self.picasso))
    #expect(t.header.length == 0xD0 && t.findings.isEmpty)
    #expect(t.ivInfo.rawValue == 0x0020_3041 && t.ivInfo.efrSupported && !t.ivInfo.dmaRemap)
    let hd = t.hardwareDefinitions
    #expect(hd.map(\.type) == [0x10, 0x11] && hd.map(\.baseAddress) == [0xFD20_0000, 0xFD20_0000])
    #expect(hd[0].featureReporting == 0x8004_8F6E)
    #expect(hd[1].featureReporting == 0x0004_0200 && hd[1].efrImage == 0x004F_77EF_2229_4ADA)
    #expect(hd[0].entries == Self.commonEntries(at: 0x48, alias: 0x00A4))
    #expect(hd[1].entries == Self.commonEntries(at: 0xA0, alias: 0x00A4))
    #expect(t.memoryDefinitions.isEmpty)
    #expect(t.kernelIVHDType == 0x11 && t.kernelIOMMUs.map(\.offset) == [0x78])
  }

  /// IVHD 11h @48 (entries from 88), IVMD 20h @144, 21h @176, 22h @208, unknown 30h @240.
  static var synthetic: [UInt8] {
    typealias F = TableFixtures
    var entries: [UInt8] = [0x01, 0, 0, 0]
    entries += [0x46] + F.le(UInt16(0x0010)) + [0] + F.le(UInt32(0x8000_0000))
    entries += [0x47] + F.le(UInt16(0x0020)) + [0] + F.le(UInt32(0)) + [0x04] + F.le(UInt16(0x002F)) + [0]
    entries += [0x42] + F.le(UInt16(0x0030)) + [0, 0] + F.le(UInt16(0x0031)) + [0]
    entries += [0xF0] + F.le(UInt16(0x00A0)) + [0] + Array("AMDI0030".utf8) + F.le(UInt64(0)) + [1, 2, 0x34, 0x12]
    var ivhd: [UInt8] = [0x11, 0x30] + F.le(UInt16(40 + entries.count)) + F.le(UInt16(2)) + F.le(UInt16(0x40))
    ivhd += F.le(UInt64(0xFEB8_0000)) + F.le(UInt16(0)) + F.le(UInt16(0x0A04)) + F.le(UInt32(1))
    ivhd += F.le(UInt64(0x1234)) + F.le(UInt64(0)) + entries
    func ivmd(_ type: UInt8, _ flags: UInt8, _ dev: UInt16, _ aux: UInt16, _ start: UInt64, _ len: UInt64) -> [UInt8] {
      [type, flags] + F.le(UInt16(32)) + F.le(dev) + F.le(aux) + F.le(UInt64(0)) + F.le(start) + F.le(len)
    }
    let body =
      F.le(UInt32(0x0020_3041)) + F.le(UInt64(0)) + ivhd + ivmd(0x20, 0x07, 0, 0, 0x9D00_0000, 0x10_0000)
      + ivmd(0x21, 0x08, 0x0010, 0, 0xA000_0000, 0x1000) + ivmd(0x22, 0x07, 0x0100, 0x01FF, 0xB000_0000, 0x2000)
      + [0x30, 0, 8, 0, 0x34, 0x12, 0, 0]
    return F.table("IVRS", revision: 2, body: body)
  }

  @Test("every entry and block kind: extended, alias, ACPI HID with an integer UID, IVMD 20h/21h/22h, unknown")
  func syntheticKinds() throws {
    let t = try IVRSTable(bytes: Self.synthetic)
    let hd = try #require(t.hardwareDefinitions.first)
    #expect(hd.msiNumber == 4 && hd.unitID == 0xA && hd.hostAddressTranslationDisabled && hd.efrImage == 0x1234)
    #expect(hd.entries.map(\.offset) == [88, 92, 100, 108, 112, 120])
    #expect(
      hd.entries.map(\.kind) == [
        .all, .extendedSelect(extended: 0x8000_0000), .extendedRangeStart(extended: 0), .rangeEnd,
        .alias(alias: 0x0031), .acpiHID(hid: "AMDI0030", cid: 0, uidFormat: 1, uid: "4660"),
      ])
    #expect(t.findings == [.init(table: "IVRS", offset: 120, message: "[Firmware Bug]: Invalid IVHD device type 0xf0")])
    let md = t.memoryDefinitions
    #expect(md.map(\.offset) == [144, 176, 208] && md.map(\.devices) == [0...0xFFFF, 0x10...0x10, 0x100...0x1FF])
    #expect(md.map(\.flags) == [[.unity, .read, .write], [.exclusionRange], [.unity, .read, .write]])
    #expect(md.map(\.startAddress) == [0x9D00_0000, 0xA000_0000, 0xB000_0000])
    #expect(md.map(\.memoryLength) == [0x10_0000, 0x1000, 0x2000])
    #expect(
      t.blocks.last == .unknown(type: 0x30, offset: 240, deviceID: 0x1234, bytes: [0x30, 0, 8, 0, 0x34, 0x12, 0, 0]))
    #expect(t.kernelIVHDType == 0x11)
  }
}

@Suite("IVRS: truncated and corrupted tables, with table and offset")
struct IVRSErrorTests {
  let renoir: [UInt8]
  init() throws { renoir = try TableFixtures.bytes(IVRSTests.renoir) }

  @Test("a table cut inside the IVHD 40h block, and a block length past the table")
  func pastEnd() {
    #expect(throws: FirmwareError.structurePastEnd(table: "IVRS", offset: 0xD0, length: 0x77, available: 0x70)) {
      try IVRSTable(bytes: TableFixtures.cut(renoir, to: 0x140))
    }
    #expect(throws: FirmwareError.structurePastEnd(table: "IVRS", offset: 0x30, length: 0x200, available: 0x117)) {
      try IVRSTable(bytes: TableFixtures.patch(renoir, at: 0x32, UInt16(0x200)))
    }
  }

  @Test("a zero block length, which would stop the kernel's walk, is an invalid length")
  func zeroLength() {
    #expect(throws: FirmwareError.invalidField(table: "IVRS", offset: 0x32, field: "block length", value: 0)) {
      try IVRSTable(bytes: TableFixtures.patch(renoir, at: 0x32, UInt16(0)))
    }
  }

  @Test("a device entry past its block, and an entry type with no length")
  func badEntries() {
    #expect(throws: FirmwareError.structurePastEnd(table: "IVRS", offset: 0x70, length: 8, available: 4)) {
      try IVRSTable(bytes: TableFixtures.patch(renoir, at: 0x32, UInt16(0x44)))
    }
    let reason = "IVHD device entry type 0x80 has no length the kernel knows"
    #expect(throws: FirmwareError.malformed(table: "IVRS", offset: 0x5C, reason: reason)) {
      try IVRSTable(bytes: TableFixtures.patch(renoir, at: 0x5C, UInt8(0x80)))
    }
  }

  @Test("a bad checksum: ACPICA's warning and AMD-Vi's refusal, both findings")
  func badChecksum() throws {
    let t = try IVRSTable(bytes: TableFixtures.patch(renoir, at: 9, UInt8(0xA4)))
    #expect(t.hardwareDefinitions.count == 3)
    #expect(
      t.findings == [
        .init(table: "IVRS", offset: 9, message: "Incorrect checksum in table [IVRS] - 0xA4, should be 0xA3"),
        .init(table: "IVRS", offset: 9, severity: .rejectedByKernel, message: "[Firmware Bug]: IVRS invalid checksum"),
      ])
  }

  @Test("a table shorter than its 48-byte header")
  func shortHeader() {
    #expect(throws: FirmwareError.truncated(table: "IVRS", offset: 36, needed: 12, available: 8)) {
      try IVRSTable(bytes: TableFixtures.cut(renoir, to: 44))
    }
  }
}
