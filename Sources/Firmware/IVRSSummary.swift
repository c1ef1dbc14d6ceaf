extension IVRSTable {
  /// One line per block, and one per IVHD for its device entries (see FirmwareTable.summaryLines).
  public var summaryLines: [String] {
    var info: [String] = []
    if ivInfo.efrSupported { info.append("EFRSup") }
    if ivInfo.dmaRemap { info.append("DMA remap") }
    let named = info.isEmpty ? "" : " (" + info.joined(separator: ", ") + ")"
    var head = "IVRS: IVinfo \(hex(ivInfo.rawValue))\(named), PA \(ivInfo.physicalAddressSize) bits"
    head += ", VA \(ivInfo.virtualAddressSize) bits"
    if let t = kernelIVHDType { head += "; the kernel uses IVHD type \(hex2(t))h" }
    var lines = [head]
    for b in blocks {
      switch b {
      case .hardware(let h):
        var line = "IVHD \(hex2(h.type))h @\(hex(h.offset)): IOMMU \(Self.bdf(h.deviceID)) base \(hex(h.baseAddress))"
        line += " segment \(h.pciSegment) capability \(hex(h.capabilityOffset)) flags \(hex(h.flags))"
        line += h.type == 0x10 ? " features \(hex(h.featureReporting))" : " attributes \(hex(h.featureReporting))"
        if let efr = h.efrImage { line += " EFR \(hex(efr))" }
        lines.append(line)
        lines.append("  entries: " + h.entries.map(Self.entryText).joined(separator: ", "))
      case .memory(let m):
        let devices = m.devices.map { "\(Self.bdf($0.lowerBound))-\(Self.bdf($0.upperBound))" } ?? "none"
        var flags: [String] = []
        if m.flags.contains(.unity) { flags.append("unity") }
        if m.flags.contains(.read) { flags.append("read") }
        if m.flags.contains(.write) { flags.append("write") }
        if m.flags.contains(.exclusionRange) { flags.append("exclusion") }
        lines.append(
          "IVMD \(hex2(m.type))h @\(hex(m.offset)): \(hex(m.startAddress))+\(hex(m.memoryLength)) devices \(devices)"
            + (flags.isEmpty ? "" : " " + flags.joined(separator: " ")))
      case .unknown(let type, let offset, _, let bytes):
        lines.append("type \(hex2(type))h @\(hex(offset)): \(bytes.count) bytes")
      }
    }
    return lines
  }

  /// A device ID as `bus:dev.fn`.
  static func bdf(_ id: UInt16) -> String {
    "\(hex2(UInt8(id >> 8)).lowercased()):\(hex2(UInt8((id >> 3) & 0x1F)).lowercased()).\(id & 7)"
  }

  static func entryText(_ e: IVHDDeviceEntry) -> String {
    switch e.kind {
    case .padding: "pad"
    case .all: "all"
    case .select: "select \(bdf(e.deviceID))"
    case .rangeStart: "range \(bdf(e.deviceID))"
    case .rangeEnd: "to \(bdf(e.deviceID))"
    case .alias(let a): "\(bdf(e.deviceID)) alias \(bdf(a))"
    case .aliasRangeStart(let a): "range \(bdf(e.deviceID)) alias \(bdf(a))"
    case .extendedSelect(let x): "select \(bdf(e.deviceID)) ext \(hex(x))"
    case .extendedRangeStart(let x): "range \(bdf(e.deviceID)) ext \(hex(x))"
    case .special(let handle, let source, let variety):
      switch variety {
      case .ioapic: "IOAPIC \(handle) from \(bdf(source))"
      case .hpet: "HPET \(handle) from \(bdf(source))"
      case .other(let v): "special \(v) #\(handle) from \(bdf(source))"
      }
    case .acpiHID(let hid, _, _, let uid): "\(hid) \(uid) as \(bdf(e.deviceID))"
    case .unknown(let bytes): "type \(hex2(e.type))h (\(bytes.count) bytes)"
    }
  }
}
