extension IVRSTable {
  /// Parses an IVRS table from its bytes (at least the header's length).
  ///
  /// Walks the blocks from offset 48 by their length as init_iommu_all() and
  /// init_memory_definitions(), drivers/iommu/amd/init.c (Linux 7.2) do. A block shorter than its
  /// fixed header (a zero length would stop the kernel's walk from advancing) is an invalid
  /// length; a block or device entry that runs past what holds it is `structurePastEnd`. Unknown
  /// block types are kept. A bad checksum is a finding, marked `rejectedByKernel`: the kernel's
  /// check_ivrs_checksum() refuses the table with "IVRS invalid checksum" (-ENODEV).
  public init(bytes: [UInt8]) throws(FirmwareError) {
    let h = try ACPITableHeader(bytes, expecting: Self.signature)
    let r = tableReader(bytes, header: h)
    try r.check(ACPITableHeader.size, Self.headerLength - ACPITableHeader.size)
    header = h
    ivInfo = IVRSInfo(rawValue: try r.u32(36))
    blocks = []
    findings = []
    if let checksum = h.checksumFinding(bytes) {
      findings.append(checksum)
      findings.append(
        FirmwareFinding(
          table: r.table, offset: 9, severity: .rejectedByKernel, message: "[Firmware Bug]: IVRS invalid checksum"))
    }
    var at = Self.headerLength
    let end = r.bytes.count
    while at < end {
      guard end - at >= 4 else {
        throw .structurePastEnd(table: r.table, offset: at, length: 4, available: end - at)
      }
      let type = try r.u8(at)
      let length = Int(try r.u16(at + 2))
      let minimum: Int
      switch type {
      case 0x10, 0x11, 0x40: minimum = IVHD.headerSize(type: type)
      case 0x20, 0x21, 0x22: minimum = IVMD.length
      default: minimum = 8
      }
      guard length >= minimum else {
        throw .invalidField(table: r.table, offset: at + 2, field: "block length", value: UInt64(length))
      }
      guard length <= end - at else {
        throw .structurePastEnd(table: r.table, offset: at, length: length, available: end - at)
      }
      blocks.append(try Self.parseBlock(r, at: at, type: type, length: length, findings: &findings))
      at += length
    }
  }

  private static func parseBlock(
    _ r: TableReader, at: Int, type: UInt8, length: Int, findings: inout [FirmwareFinding]
  ) throws(FirmwareError) -> IVRSBlock {
    switch type {
    case 0x10, 0x11, 0x40:
      let extended = type != 0x10
      let size = IVHD.headerSize(type: type)
      return .hardware(
        IVHD(
          offset: at, type: type, flags: try r.u8(at + 1), length: UInt16(length), deviceID: try r.u16(at + 4),
          capabilityOffset: try r.u16(at + 6), baseAddress: try r.u64(at + 8), pciSegment: try r.u16(at + 16),
          iommuInfo: try r.u16(at + 18), featureReporting: try r.u32(at + 20),
          efrImage: extended ? try r.u64(at + 24) : nil, efr2Image: extended ? try r.u64(at + 32) : nil,
          entries: try IVHDDeviceEntry.parseAll(
            r, from: at + size, to: at + length, blockType: type, findings: &findings)))
    case 0x20, 0x21, 0x22:
      return .memory(
        IVMD(
          offset: at, type: type, flags: .init(rawValue: try r.u8(at + 1)), deviceID: try r.u16(at + 4),
          auxiliaryData: try r.u16(at + 6), startAddress: try r.u64(at + 16), memoryLength: try r.u64(at + 24)))
    default:
      return .unknown(type: type, offset: at, deviceID: try r.u16(at + 4), bytes: try r.slice(at, length))
    }
  }
}
