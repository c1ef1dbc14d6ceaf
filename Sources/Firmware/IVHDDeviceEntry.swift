/// One device entry of an IVHD block: which device IDs the IOMMU covers, and how.
public struct IVHDDeviceEntry: Sendable, Hashable {
  public enum Kind: Sendable, Hashable {
    /// 00h: a 4-byte pad.
    case padding
    /// 01h (IVHD_DEV_ALL): every device.
    case all
    /// 02h (IVHD_DEV_SELECT): the entry's device ID.
    case select
    /// 03h (IVHD_DEV_SELECT_RANGE_START): first device of a range ended by `.rangeEnd`.
    case rangeStart
    /// 04h (IVHD_DEV_RANGE_END).
    case rangeEnd
    /// 42h (IVHD_DEV_ALIAS): the device's requests carry `alias` as their source ID.
    case alias(alias: UInt16)
    /// 43h (IVHD_DEV_ALIAS_RANGE): a range start whose devices all carry `alias`.
    case aliasRangeStart(alias: UInt16)
    /// 46h (IVHD_DEV_EXT_SELECT): select with extended settings (bit 31: ATS disabled).
    case extendedSelect(extended: UInt32)
    /// 47h (IVHD_DEV_EXT_SELECT_RANGE).
    case extendedRangeStart(extended: UInt32)
    /// 48h (IVHD_DEV_SPECIAL): an IOAPIC (variety 1) or HPET (variety 2) by its handle, and the
    /// PCI device ID its interrupts come from.
    case special(handle: UInt8, sourceDeviceID: UInt16, variety: SpecialVariety)
    /// F0h (IVHD_DEV_ACPI_HID): an ACPI device by HID, CID and UID (IVHD type 40h only).
    case acpiHID(hid: String, cid: UInt64, uidFormat: UInt8, uid: String)
    /// A type this parser does not know, with its fixed length (types below 80h).
    case unknown(bytes: [UInt8])
  }

  public enum SpecialVariety: Sendable, Hashable {
    case ioapic, hpet, other(UInt8)
    public init(rawValue: UInt8) {
      switch rawValue {
      case 1: self = .ioapic
      case 2: self = .hpet
      default: self = .other(rawValue)
      }
    }
  }

  public var offset: Int
  public var type: UInt8
  /// The device ID at entry offset 1 (bus << 8 | devfn); reserved for special entries.
  public var deviceID: UInt16
  /// "Data Setting": bit 0 INITPass, 1 EIntPass, 2 NMIPass, 5:4 SysMgt, 6 Lint0Pass, 7 Lint1Pass.
  public var settings: UInt8
  public var kind: Kind

  public init(offset: Int, type: UInt8, deviceID: UInt16, settings: UInt8, kind: Kind) {
    self.offset = offset
    self.type = type
    self.deviceID = deviceID
    self.settings = settings
    self.kind = kind
  }

  /// The entry's length: 4 << (type >> 6) below 80h, 22 + UID length for F0h, 0 (unknown) else.
  /// Mirrors ivhd_entry_length(), drivers/iommu/amd/init.c (Linux 7.2).
  static func length(_ r: TableReader, at: Int) throws(FirmwareError) -> Int {
    let type = try r.u8(at)
    if type < 0x80 { return 4 << Int(type >> 6) }
    if type == 0xF0 { return Int(try r.u8(at + 21)) + 22 }
    return 0
  }

  /// Parses the device entries in `start..<end` of an IVHD block of type `blockType`.
  /// Mirrors the walk of init_iommu_from_acpi(), drivers/iommu/amd/init.c (Linux 7.2). An entry
  /// type with no known length (80h and up, except F0h) would stop the kernel's walk from
  /// advancing: it is an error here. An F0h entry outside a type 40h block is the kernel's
  /// "Invalid IVHD device type" finding.
  static func parseAll(
    _ r: TableReader, from start: Int, to end: Int, blockType: UInt8, findings: inout [FirmwareFinding]
  ) throws(FirmwareError) -> [IVHDDeviceEntry] {
    var entries: [IVHDDeviceEntry] = []
    var at = start
    while at < end {
      let type = try r.u8(at)
      // An ACPI HID entry's length is at offset 21, which must lie inside the block to be read.
      if type == 0xF0, end - at < 22 {
        throw .structurePastEnd(table: r.table, offset: at, length: 22, available: end - at)
      }
      let length = try length(r, at: at)
      guard length > 0 else {
        throw .malformed(
          table: r.table, offset: at, reason: "IVHD device entry type \(hex(type)) has no length the kernel knows")
      }
      guard length <= end - at else {
        throw .structurePastEnd(table: r.table, offset: at, length: length, available: end - at)
      }
      entries.append(try parseOne(r, at: at, type: type, blockType: blockType, findings: &findings))
      at += length
    }
    return entries
  }

  private static func parseOne(
    _ r: TableReader, at: Int, type: UInt8, blockType: UInt8, findings: inout [FirmwareFinding]
  ) throws(FirmwareError) -> IVHDDeviceEntry {
    let kind: Kind
    switch type {
    case 0x00: kind = .padding
    case 0x01: kind = .all
    case 0x02: kind = .select
    case 0x03: kind = .rangeStart
    case 0x04: kind = .rangeEnd
    case 0x42: kind = .alias(alias: try r.u16(at + 5))
    case 0x43: kind = .aliasRangeStart(alias: try r.u16(at + 5))
    case 0x46: kind = .extendedSelect(extended: try r.u32(at + 4))
    case 0x47: kind = .extendedRangeStart(extended: try r.u32(at + 4))
    case 0x48:
      kind = .special(
        handle: try r.u8(at + 4), sourceDeviceID: try r.u16(at + 5), variety: .init(rawValue: try r.u8(at + 7)))
    case 0xF0:
      if blockType != 0x40 {
        findings.append(
          FirmwareFinding(table: r.table, offset: at, message: "[Firmware Bug]: Invalid IVHD device type 0xf0"))
      }
      let uidLength = Int(try r.u8(at + 21))
      let uidBytes = try r.slice(at + 22, uidLength)
      let format = try r.u8(at + 20)
      let uid: String
      switch format {
      case 1: uid = String(uidBytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
      case 2: uid = String(decoding: uidBytes.prefix { $0 != 0 }, as: UTF8.self)
      default: uid = ""
      }
      kind = .acpiHID(
        hid: try r.cString(at + 4, maxLength: 8), cid: try r.u64(at + 12), uidFormat: format, uid: uid)
    default:
      kind = .unknown(bytes: try r.slice(at, try length(r, at: at)))
    }
    return IVHDDeviceEntry(
      offset: at, type: type, deviceID: try r.u16(at + 1), settings: try r.u8(at + 3), kind: kind)
  }
}
