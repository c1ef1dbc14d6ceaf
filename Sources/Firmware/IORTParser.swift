extension IORTTable {
  /// Parses an IORT table from its bytes (at least the header's length).
  ///
  /// Walks `nodeCount` nodes from `nodeOffset` as iort_scan_node(), drivers/acpi/arm64/iort.c
  /// (Linux 7.2) does: a node that starts at or past the table's end is "IORT node pointer
  /// overflows, bad table!". A node, an ID mapping array or an interrupt/range array that runs
  /// past what holds it is `structurePastEnd`; a node shorter than its 16-byte header is an
  /// invalid length (the kernel would walk onto the same bytes again). Unknown node types are
  /// kept with their header and mappings. A bad checksum, a NULL or dangling output reference and
  /// an SMMUv3 ID mapping index past the mappings are findings, as the kernel only complains.
  public init(bytes: [UInt8]) throws(FirmwareError) {
    let h = try ACPITableHeader(bytes, expecting: Self.signature)
    let r = tableReader(bytes, header: h)
    try r.check(ACPITableHeader.size, Self.headerLength - ACPITableHeader.size)
    header = h
    nodeCount = try r.u32(36)
    nodeOffset = try r.u32(40)
    nodes = []
    findings = h.checksumFinding(bytes).map { [$0] } ?? []

    var at = Int(nodeOffset)
    for _ in 0..<nodeCount {
      guard at < r.bytes.count else {
        throw .malformed(table: r.table, offset: at, reason: "IORT node pointer overflows, bad table!")
      }
      let node = try Self.parseNode(r, at: at, findings: &findings)
      nodes.append(node)
      at += Int(node.length)
    }
    checkReferences()
  }

  private static func parseNode(
    _ r: TableReader, at: Int, findings: inout [FirmwareFinding]
  ) throws(FirmwareError) -> IORTNode {
    let available = r.bytes.count - at
    guard available >= 3 else { throw .structurePastEnd(table: r.table, offset: at, length: 16, available: available) }
    let length = Int(try r.u16(at + 1))
    guard length >= 16 else {
      throw .invalidField(table: r.table, offset: at + 1, field: "node length", value: UInt64(length))
    }
    guard length <= available else {
      throw .structurePastEnd(table: r.table, offset: at, length: length, available: available)
    }
    var node = IORTNode(
      offset: at, rawType: try r.u8(at), length: UInt16(length), revision: try r.u8(at + 3),
      identifier: try r.u32(at + 4), mappingCount: try r.u32(at + 8), mappingOffset: try r.u32(at + 12),
      idMappings: [], body: .unknown)
    node.idMappings = try parseMappings(r, node)
    // Type-specific fields end where the mappings start (or at the node's end).
    let mapStart = Int(node.mappingOffset)
    let dataEnd = node.mappingCount > 0 && mapStart >= 16 ? min(mapStart, length) : length
    let body = NodeBodyReader(r: r, node: at, dataEnd: at + dataEnd, nodeEnd: at + length)
    switch node.type {
    case .itsGroup: node.body = .itsGroup(try body.itsGroup())
    case .namedComponent: node.body = .namedComponent(try body.namedComponent(findings: &findings))
    case .rootComplex: node.body = .rootComplex(try body.rootComplex())
    case .smmu: node.body = .smmu(try body.smmu())
    case .smmuV3:
      let smmu = try body.smmuV3()
      node.body = .smmuV3(smmu)
      if node.mappingIndexOverflows(smmu) {
        findings.append(
          FirmwareFinding(
            table: r.table, offset: at,
            message: "[Firmware Bug]: [node \(hex(at)) type 4] ID mapping index overflows valid mappings"))
      }
    case .pmcg: node.body = .pmcg(try body.pmcg())
    case .rmr: node.body = .rmr(try body.rmr())
    case nil: node.body = .unknown
    }
    return node
  }

  private static func parseMappings(_ r: TableReader, _ node: IORTNode) throws(FirmwareError) -> [IORTIDMapping] {
    guard node.mappingCount > 0 else { return [] }
    let length = Int(node.length)
    let start = Int(node.mappingOffset)
    guard start >= 16 else {
      throw .invalidField(
        table: r.table, offset: node.offset + 12, field: "ID mapping offset", value: UInt64(node.mappingOffset))
    }
    let size = Int(node.mappingCount) * 20
    guard start <= length, size <= length - start else {
      throw .structurePastEnd(
        table: r.table, offset: node.offset + start, length: size, available: max(0, length - start))
    }
    var maps: [IORTIDMapping] = []
    for i in 0..<Int(node.mappingCount) {
      let m = node.offset + start + 20 * i
      maps.append(
        IORTIDMapping(
          offset: m, inputBase: try r.u32(m), idCount: try r.u32(m + 4), outputBase: try r.u32(m + 8),
          outputReference: try r.u32(m + 12), flags: try r.u32(m + 16)))
    }
    return maps
  }

  /// Output references must name a node: 0 is the kernel's "ID map has NULL parent reference".
  private mutating func checkReferences() {
    let starts = Set(nodes.map(\.offset))
    for n in nodes {
      for m in n.idMappings {
        let prefix = "[node \(hex(n.offset)) type \(n.rawType)] ID map"
        if m.outputReference == 0 {
          findings.append(
            FirmwareFinding(
              table: header.signature, offset: m.offset + 12,
              message: "[Firmware Bug]: \(prefix) has NULL parent reference"))
        } else if !starts.contains(Int(m.outputReference)) {
          findings.append(
            FirmwareFinding(
              table: header.signature, offset: m.offset + 12,
              message: "\(prefix) refers to \(hex(m.outputReference)), where no node starts"))
        }
      }
    }
  }
}

/// Reads a node's type-specific fields, each checked against the node's data end.
private struct NodeBodyReader {
  let r: TableReader
  /// Absolute offsets: the node's start, the end of its type-specific data, the node's end.
  let node: Int
  let dataEnd: Int
  let nodeEnd: Int

  func u8(_ o: Int) throws(FirmwareError) -> UInt8 { try r.u8(node + o) }
  func u16(_ o: Int) throws(FirmwareError) -> UInt16 { try r.u16(node + o) }
  func u32(_ o: Int) throws(FirmwareError) -> UInt32 { try r.u32(node + o) }
  func u64(_ o: Int) throws(FirmwareError) -> UInt64 { try r.u64(node + o) }

  /// The fixed fields from 16 up to `end` must lie inside the node.
  func need(_ end: Int) throws(FirmwareError) {
    guard node + end <= nodeEnd else {
      throw .structurePastEnd(table: r.table, offset: node + 16, length: end - 16, available: nodeEnd - node - 16)
    }
  }
  /// A field that later node revisions added: nil when the node's data stops before it.
  func optional<T>(_ o: Int, _ size: Int, _ read: (Int) throws(FirmwareError) -> T) throws(FirmwareError) -> T? {
    node + o + size <= dataEnd ? try read(o) : nil
  }
  func array(_ o: UInt32, count: UInt32, stride: Int) throws(FirmwareError) -> [Int] {
    guard count > 0 else { return [] }
    let start = node + Int(o)
    let size = Int(count) * stride
    guard Int(o) >= 16, start <= nodeEnd, size <= nodeEnd - start else {
      throw .structurePastEnd(table: r.table, offset: start, length: size, available: max(0, nodeEnd - start))
    }
    return (0..<Int(count)).map { start + $0 * stride - node }
  }
  func memoryAccess(_ o: Int) throws(FirmwareError) -> IORTMemoryAccess {
    IORTMemoryAccess(cacheCoherency: try u32(o), allocationHints: try u8(o + 4), flags: try u8(o + 7))
  }
  func interrupts(_ o: UInt32, count: UInt32) throws(FirmwareError) -> [IORTInterrupt] {
    var out: [IORTInterrupt] = []
    for at in try array(o, count: count, stride: 8) {
      out.append(IORTInterrupt(gsiv: try u32(at), flags: try u32(at + 4)))
    }
    return out
  }

  func itsGroup() throws(FirmwareError) -> IORTITSGroup {
    try need(20)
    var ids: [UInt32] = []
    for at in try array(20, count: try u32(16), stride: 4) { ids.append(try u32(at)) }
    return IORTITSGroup(identifiers: ids)
  }

  func namedComponent(findings: inout [FirmwareFinding]) throws(FirmwareError) -> IORTNamedComponent {
    try need(29)
    let nameBytes = dataEnd > node + 29 ? try r.slice(node + 29, dataEnd - node - 29) : []
    let nul = nameBytes.firstIndex(of: 0)
    if nul == nil {
      findings.append(
        FirmwareFinding(table: r.table, offset: node + 29, message: "named component device name is not NUL-terminated")
      )
    }
    return IORTNamedComponent(
      flags: try u32(16), memoryAccess: try memoryAccess(20), memoryAddressLimit: try u8(28),
      deviceName: String(decoding: nameBytes[..<(nul ?? nameBytes.endIndex)], as: UTF8.self))
  }

  func rootComplex() throws(FirmwareError) -> IORTRootComplex {
    try need(32)
    return IORTRootComplex(
      memoryAccess: try memoryAccess(16), atsAttribute: try u32(24), pciSegment: try u32(28),
      memoryAddressLimit: try optional(32, 1) { o throws(FirmwareError) in try u8(o) },
      pasidCapabilities: try optional(33, 2) { o throws(FirmwareError) in try u16(o) },
      flags: try optional(36, 4) { o throws(FirmwareError) in try u32(o) })
  }

  func smmu() throws(FirmwareError) -> IORTSMMU {
    try need(60)
    return IORTSMMU(
      baseAddress: try u64(16), span: try u64(24), rawModel: try u32(32), flags: try u32(36),
      globalInterrupts: try interrupts(try u32(40), count: 2),
      contextInterrupts: try interrupts(try u32(48), count: try u32(44)),
      pmuInterrupts: try interrupts(try u32(56), count: try u32(52)))
  }

  func smmuV3() throws(FirmwareError) -> IORTSMMUv3 {
    try need(60)
    return IORTSMMUv3(
      baseAddress: try u64(16), flags: .init(rawValue: try u32(24)), vatosAddress: try u64(32),
      rawModel: try u32(40), eventGSIV: try u32(44), priGSIV: try u32(48), gerrGSIV: try u32(52),
      syncGSIV: try u32(56), proximityDomain: try optional(60, 4) { o throws(FirmwareError) in try u32(o) },
      deviceIDMappingIndex: try optional(64, 4) { o throws(FirmwareError) in try u32(o) })
  }

  func pmcg() throws(FirmwareError) -> IORTPMCG {
    try need(32)
    return IORTPMCG(
      page0BaseAddress: try u64(16), overflowGSIV: try u32(24), nodeReference: try u32(28),
      page1BaseAddress: try optional(32, 8) { o throws(FirmwareError) in try u64(o) })
  }

  func rmr() throws(FirmwareError) -> IORTRMR {
    try need(28)
    var ranges: [IORTRMR.Range] = []
    for at in try array(try u32(24), count: try u32(20), stride: 20) {
      ranges.append(.init(offset: node + at, baseAddress: try u64(at), length: try u64(at + 8)))
    }
    return IORTRMR(flags: try u32(16), ranges: ranges)
  }
}
