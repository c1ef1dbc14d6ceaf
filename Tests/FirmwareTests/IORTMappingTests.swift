import Firmware
import Testing

/// A small IORT built byte by byte: ITS @48, SMMUv3 rev 5 @72, root complex @180, named
/// component @260, PMCG @324, RMR @364.
enum SyntheticIORT {
  typealias F = TableFixtures
  static func node(_ type: UInt8, rev: UInt8, mappings: [[UInt32]], body: [UInt8]) -> [UInt8] {
    let length = 16 + body.count + 20 * mappings.count
    var n: [UInt8] = [type] + F.le(UInt16(length)) + [rev] + F.le(UInt32(0)) + F.le(UInt32(mappings.count))
    n += F.le(UInt32(mappings.isEmpty ? 0 : 16 + body.count)) + body
    for m in mappings { n += m.flatMap { F.le($0) } }
    return n
  }
  static let its = node(0, rev: 1, mappings: [], body: F.le(UInt32(1)) + F.le(UInt32(0)))
  static let smmuV3 = node(
    4, rev: 5,
    mappings: [[0, 0xFFFF, 0x9999_0000, 48, 0], [0, 0xFFFF, 0x1_0000, 48, 0]],
    body: F.le(UInt64(0x0900_0000)) + F.le(UInt32(0x11)) + F.le(UInt32(0)) + F.le(UInt64(0)) + F.le(UInt32(0))
      + [100, 101, 102, 103].flatMap { F.le(UInt32($0)) } + F.le(UInt32(0)) + F.le(UInt32(0)))
  static let rootComplex = node(
    2, rev: 4,
    mappings: [[0, 0x100, 0, 72, 0], [0x100, 0xFF, 0x1000, 72, 0]],
    body: F.le(UInt32(1)) + [0, 0, 0, 1] + F.le(UInt32(7)) + F.le(UInt32(0)) + [48, 0, 0, 0] + F.le(UInt32(0)))
  static let namedComponent = node(
    1, rev: 4, mappings: [[0, 0, 0x42, 72, 1]],
    body: F.le(UInt32(0)) + F.le(UInt32(1)) + [0, 0, 0, 1] + [44] + Array("\\_SB.DMA0".utf8)
      + [UInt8](repeating: 0, count: 6))
  static let pmcg = node(
    5, rev: 1, mappings: [],
    body: F.le(UInt64(0x0902_0000)) + F.le(UInt32(200)) + F.le(UInt32(72)) + F.le(UInt64(0x0903_0000)))
  static let rmr: [UInt8] = {
    // Header, flags/count/offset, one single mapping at 28, two ranges at 48.
    var n: [UInt8] = [6] + F.le(UInt16(88)) + [3] + F.le(UInt32(0)) + F.le(UInt32(1)) + F.le(UInt32(28))
    n += F.le(UInt32(1)) + F.le(UInt32(2)) + F.le(UInt32(48))
    n += [0x42, 0, 0x42, 72, 1].flatMap { F.le(UInt32($0)) }
    n += F.le(UInt64(0x8000_0000)) + F.le(UInt64(0x1_0000)) + F.le(UInt32(0))
    n += F.le(UInt64(0x8010_0000)) + F.le(UInt64(0x2000)) + F.le(UInt32(0))
    return n
  }()
  static var bytes: [UInt8] {
    let nodes = [its, smmuV3, rootComplex, namedComponent, pmcg, rmr]
    return F.table(
      "IORT", revision: 5, body: F.le(UInt32(nodes.count)) + F.le(UInt32(48)) + F.le(UInt32(0)) + nodes.flatMap { $0 })
  }
}

@Suite("IORT: ID translation as iort_node_map_id() does it, and broken tables")
struct IORTMappingTests {
  @Test("the synthetic table's nodes lie where they were put, every field read back")
  func layout() throws {
    let t = try IORTTable(bytes: SyntheticIORT.bytes)
    #expect(t.nodes.map(\.offset) == [48, 72, 180, 260, 324, 364] && t.findings.isEmpty)
    let v3 = try #require(t.smmuV3s.first?.smmu)
    #expect(v3.flags == [.coherentAccessOverride, .deviceIDMappingIndexValid] && v3.deviceIDMappingIndex == 0)
    let rc = try #require(t.rootComplexes.first?.rootComplex)
    #expect(rc.atsSupported && rc.pciSegment == 0 && rc.memoryAddressLimit == 48 && rc.flags == 0)
    #expect(t.namedComponents.first?.component.deviceName == "\\_SB.DMA0")
    #expect(t.namedComponents.first?.component.memoryAddressLimit == 44)
    #expect(
      t.nodes[4].body
        == .pmcg(
          .init(page0BaseAddress: 0x0902_0000, overflowGSIV: 200, nodeReference: 72, page1BaseAddress: 0x0903_0000)))
    guard case .rmr(let rmr) = t.nodes[5].body else { Issue.record("no RMR"); return }
    #expect(rmr.remappingPermitted && rmr.ranges.map(\.baseAddress) == [0x8000_0000, 0x8010_0000])
    #expect(rmr.ranges.map(\.length) == [0x1_0000, 0x2000] && rmr.ranges.map(\.offset) == [412, 432])
  }

  @Test("an SMMUv3 (rev 5, DeviceID valid) skips its own MSI mapping when translating onward to the ITS")
  func specialIndexSkipped() throws {
    let t = try IORTTable(bytes: SyntheticIORT.bytes)
    #expect(t.nodes[1].specialMappingIndex == 0)
    let its = try #require(t.mapID(0x80, from: t.nodes[2], to: IORTNodeType.msiTypes))
    #expect(its.node.offset == 48 && its.id == 0x1_0080)
  }

  @Test("a range end that overlaps the next range's start is superseded by it (the id_count off-by-one)")
  func offByOne() throws {
    let t = try IORTTable(bytes: SyntheticIORT.bytes)
    #expect(t.streamID(forRequesterID: 0x80, segment: 0)?.id == 0x80)
    #expect(t.streamID(forRequesterID: 0x100, segment: 0)?.id == 0x1000)
    #expect(t.streamID(forRequesterID: 0x1FF, segment: 0)?.id == 0x10FF)
    #expect(t.streamID(forRequesterID: 0x200, segment: 0) == nil)
  }

  @Test("a single mapping gives a platform device its stream ID on the SMMUv3")
  func platformSingleMapping() throws {
    let t = try IORTTable(bytes: SyntheticIORT.bytes)
    let nc = try #require(t.namedComponent(named: "\\_SB.DMA0"))
    #expect(t.platformStreamIDs(of: nc) == [IORTMappedID(node: t.nodes[1], id: 0x42)])
    #expect(t.iommuMappings(of: nc).map(\.streamIDs) == [0x42...0x42])
  }

  let laptop7: [UInt8]
  init() throws { laptop7 = try TableFixtures.bytes(IORTTests.laptop7) }

  @Test("a node count past the last node is the kernel's node pointer overflow, at the table's end")
  func nodeCountOverflow() {
    #expect(
      throws: FirmwareError.malformed(table: "IORT", offset: 0x14A5, reason: "IORT node pointer overflows, bad table!")
    ) {
      try IORTTable(bytes: TableFixtures.patch(laptop7, at: 36, UInt32(0x1E)))
    }
  }

  @Test("zero-length, overlong and cut nodes, and a mapping array past its node")
  func brokenNodes() {
    #expect(throws: FirmwareError.invalidField(table: "IORT", offset: 0x31, field: "node length", value: 0)) {
      try IORTTable(bytes: TableFixtures.patch(laptop7, at: 0x31, UInt16(0)))
    }
    #expect(throws: FirmwareError.structurePastEnd(table: "IORT", offset: 0x148D, length: 0x30, available: 0x18)) {
      try IORTTable(bytes: TableFixtures.patch(laptop7, at: 0x148E, UInt16(0x30)))
    }
    #expect(throws: FirmwareError.structurePastEnd(table: "IORT", offset: 0x1435, length: 0x58, available: 0xB)) {
      try IORTTable(bytes: TableFixtures.cut(laptop7, to: 0x1440))
    }
    #expect(throws: FirmwareError.structurePastEnd(table: "IORT", offset: 0x1479, length: 40, available: 0x14)) {
      try IORTTable(bytes: TableFixtures.patch(laptop7, at: 0x143D, UInt32(2)))
    }
    #expect(throws: FirmwareError.truncated(table: "IORT", offset: 36, needed: 12, available: 4)) {
      try IORTTable(bytes: TableFixtures.cut(laptop7, to: 40))
    }
  }

  @Test("an SMMU context interrupt array past its node")
  func interruptsPastNode() throws {
    let devKit = try TableFixtures.bytes(IORTTests.devKit)
    #expect(throws: FirmwareError.structurePastEnd(table: "IORT", offset: 0x7C, length: 0x8000, available: 0x480)) {
      try IORTTable(bytes: TableFixtures.patch(devKit, at: 0x5C, UInt32(0x1000)))
    }
  }

  @Test("a NULL output reference is the kernel's FW_BUG and stops the translation")
  func nullReference() throws {
    let t = try IORTTable(bytes: TableFixtures.fixChecksum(TableFixtures.patch(laptop7, at: 0x4C0, UInt32(0))))
    #expect(
      t.findings == [
        .init(
          table: "IORT", offset: 0x4C0, message: "[Firmware Bug]: [node 0x490 type 2] ID map has NULL parent reference")
      ])
    #expect(t.streamID(forRequesterID: 0x10, segment: 0) == nil)
    #expect(t.streamID(forRequesterID: 0x10, segment: 1)?.id == 0x10010)
  }

  @Test("an output reference where no node starts is a finding")
  func danglingReference() throws {
    let t = try IORTTable(bytes: TableFixtures.fixChecksum(TableFixtures.patch(laptop7, at: 0x4C0, UInt32(0x1436))))
    #expect(t.findings.map(\.message) == ["[node 0x490 type 2] ID map refers to 0x1436, where no node starts"])
  }
}
