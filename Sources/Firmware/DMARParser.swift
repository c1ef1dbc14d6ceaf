extension DMARTable {
  /// Parses a DMAR table from its bytes (at least the header's length; bytes after it are ignored).
  ///
  /// Mirrors parse_dmar_table() and dmar_walk_remapping_entries(), drivers/iommu/intel/dmar.c
  /// (Linux 7.2): a host address width field below PAGE_SHIFT - 1 is "Invalid DMAR haw"
  /// (-EINVAL); a structure that runs past the table is "Record passes table end" (-EINVAL); a
  /// zero-length structure ends the walk; unknown structure types are skipped; an ANDD name that
  /// is not NUL-terminated fails the parse as dmar_parse_one_andd() does. A bad checksum, a bad
  /// RMRR, an RHSA without its unit and a table without DRHD are findings, as the kernel only warns;
  /// a DRHD at address 0 is a finding marked `rejectedByKernel` (dmar_validate_one_drhd()).
  public init(bytes: [UInt8]) throws(FirmwareError) {
    let h = try ACPITableHeader(bytes, expecting: Self.signature)
    let r = tableReader(bytes, header: h)
    try r.check(ACPITableHeader.size, Self.headerLength - ACPITableHeader.size)
    header = h
    hostAddressWidthField = try r.u8(36)
    flags = DMARFlags(rawValue: try r.u8(37))
    structures = []
    findings = h.checksumFinding(bytes).map { [$0] } ?? []
    // PAGE_SHIFT is 12 on x86.
    guard hostAddressWidthField >= 12 - 1 else {
      throw .invalidField(
        table: r.table, offset: 36, field: "host address width (Invalid DMAR haw)",
        value: UInt64(hostAddressWidthField))
    }
    try walkStructures(r)
    if hardwareUnits.isEmpty {
      findings.append(
        FirmwareFinding(
          table: r.table, offset: Self.headerLength,
          message: "[Firmware Bug]: No DRHD structure found in DMAR table"))
    }
  }

  /// Mirrors dmar_walk_remapping_entries(), drivers/iommu/intel/dmar.c (Linux 7.2).
  private mutating func walkStructures(_ r: TableReader) throws(FirmwareError) {
    let end = r.bytes.count
    var at = Self.headerLength
    while at < end {
      guard end - at >= 4 else {
        throw .structurePastEnd(table: r.table, offset: at, length: 4, available: end - at)
      }
      let type = try r.u16(at)
      let length = Int(try r.u16(at + 2))
      if length == 0 {
        // The kernel stops here (pr_debug only) to avoid looping forever.
        findings.append(
          FirmwareFinding(table: r.table, offset: at, message: "[Firmware Bug]: Invalid 0-length structure"))
        return
      }
      guard at + length <= end else {
        throw .structurePastEnd(table: r.table, offset: at, length: length, available: end - at)
      }
      structures.append(try parseStructure(r, type: type, at: at, length: length))
      at += length
    }
  }

  private mutating func parseStructure(
    _ r: TableReader, type: UInt16, at: Int, length: Int
  ) throws(FirmwareError) -> DMARStructure {
    let end = at + length
    func need(_ minimum: Int, _ name: String) throws(FirmwareError) {
      guard length >= minimum else {
        throw .invalidField(table: r.table, offset: at + 2, field: "\(name) length", value: UInt64(length))
      }
    }
    switch type {
    case 0:
      try need(16, "DRHD")
      let drhd = DMARHardwareUnit(
        offset: at, flags: .init(rawValue: try r.u8(at + 4)), sizeField: try r.u8(at + 5),
        segment: try r.u16(at + 6), registerBase: try r.u64(at + 8),
        scopes: try DMARDeviceScope.parseAll(r, from: at + 16, to: end, findings: &findings))
      if drhd.registerBase == 0 {
        // dmar_validate_one_drhd() fails detect_intel_iommu() on it: VT-d stays off.
        findings.append(
          FirmwareFinding(
            table: r.table, offset: at + 8, severity: .rejectedByKernel,
            message: "[Firmware Bug]: Your BIOS is broken; DMAR reported at address 0!"))
      }
      return .hardwareUnit(drhd)
    case 1:
      try need(24, "RMRR")
      let rmrr = DMARReservedMemory(
        offset: at, segment: try r.u16(at + 6), baseAddress: try r.u64(at + 8), endAddress: try r.u64(at + 16),
        scopes: try DMARDeviceScope.parseAll(r, from: at + 24, to: end, findings: &findings))
      checkRMRR(rmrr, table: r.table)
      return .reservedMemory(rmrr)
    case 2:
      try need(8, "ATSR")
      return .rootPortATS(
        DMARRootPortATS(
          offset: at, allPorts: try r.u8(at + 4) & 1 != 0, segment: try r.u16(at + 6),
          scopes: try DMARDeviceScope.parseAll(r, from: at + 8, to: end, findings: &findings)))
    case 3:
      try need(20, "RHSA")
      let rhsa = DMARHardwareAffinity(offset: at, registerBase: try r.u64(at + 8), proximityDomain: try r.u32(at + 16))
      // Mirrors dmar_parse_one_rhsa(): the unit must have been declared before.
      if !hardwareUnits.contains(where: { $0.registerBase == rhsa.registerBase }) {
        findings.append(
          FirmwareFinding(
            table: r.table, offset: at,
            message: "[Firmware Bug]: Your BIOS is broken; RHSA refers to non-existent DMAR unit at "
              + String(rhsa.registerBase, radix: 16)))
      }
      return .hardwareAffinity(rhsa)
    case 4:
      try need(8, "ANDD")
      // Mirrors dmar_parse_one_andd(): the name must end with a NUL inside the structure.
      let nameBytes = try r.slice(at + 8, length - 8)
      guard let nul = nameBytes.firstIndex(of: 0) else {
        throw .malformed(
          table: r.table, offset: at + 8,
          reason: "[Firmware Bug]: Your BIOS is broken; ANDD object name is not NUL-terminated")
      }
      return .namespaceDevice(
        DMARNamespaceDevice(
          offset: at, deviceNumber: try r.u8(at + 7), name: String(decoding: nameBytes[..<nul], as: UTF8.self)))
    case 5:
      try need(8, "SATC")
      return .socIntegratedATC(
        DMARSoCIntegratedATC(
          offset: at, atcRequired: try r.u8(at + 4) & 1 != 0, segment: try r.u16(at + 6),
          scopes: try DMARDeviceScope.parseAll(r, from: at + 8, to: end, findings: &findings)))
    default:
      return .unknown(type: type, offset: at, bytes: try r.slice(at, length))
    }
  }

  /// The table-only part of rmrr_sanity_check(), drivers/iommu/intel/iommu.c (Linux 7.2): base
  /// and end + 1 page aligned and end above base. (The e820 check needs the memory map.)
  private mutating func checkRMRR(_ rmrr: DMARReservedMemory, table: String) {
    let page: UInt64 = 4096
    let aligned = rmrr.baseAddress % page == 0 && (rmrr.endAddress &+ 1) % page == 0
    if aligned && rmrr.endAddress > rmrr.baseAddress { return }
    findings.append(
      FirmwareFinding(
        table: table, offset: rmrr.offset,
        message: "[Firmware Bug]: Your BIOS is broken; bad RMRR [\(hex018(rmrr.baseAddress))-"
          + "\(hex018(rmrr.endAddress))]"))
  }
}
