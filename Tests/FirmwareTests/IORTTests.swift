import Firmware
import Testing

@Suite("IORT: Arm nodes and ID mappings from real Snapdragon machines")
struct IORTTests {
  static func table(_ file: String) throws -> IORTTable { try IORTTable(bytes: TableFixtures.bytes(file)) }
  static let devKit = "IORT_windows-dev-kit-2023_sc8280xp_smmuv2-mmu500+smmuv3.dsl"
  static let laptop7 = "IORT_surface-laptop-7_x1e80100_smmuv2-mmu500+smmuv3.dsl"
  static let proX = "IORT_surface-pro-x-sq1_sc8180x_smmuv2-mmu500.dsl"

  static func census(_ t: IORTTable) -> [IORTNodeType: Int] {
    t.nodes.reduce(into: [:]) { counts, n in counts[n.type!, default: 0] += 1 }
  }

  @Test("Windows Dev Kit 2023 (SC8280XP): two MMU-500s, an SMMUv3 at 0x14f80000 and seven root complexes")
  func devKit2023() throws {
    let t = try Self.table(Self.devKit)
    #expect(t.header.revision == 0 && t.header.checksumValid && t.findings.isEmpty)
    #expect(t.nodeCount == 0x17 && t.nodeOffset == 0x30 && t.nodes.count == 0x17)
    #expect(
      Self.census(t) == [.itsGroup: 1, .namedComponent: 12, .rootComplex: 7, .smmu: 2, .smmuV3: 1])

    let smmus = t.smmus
    #expect(smmus.map(\.node.offset) == [0x30, 0x4FC])
    #expect(smmus.map(\.smmu.baseAddress) == [0x1500_0000, 0x03DA_0000])
    #expect(smmus.map(\.smmu.model) == [.mmu500, .mmu500])
    #expect(smmus.map(\.smmu.contextInterrupts.count) == [0x80, 0x0A])
    #expect(smmus.map(\.smmu.pmuInterrupts.count) == [0x10, 4])
    #expect(smmus.map { $0.smmu.globalInterrupts.map(\.gsiv) } == [[0x61, 0], [0x2C1, 0]])
    #expect(smmus[0].smmu.contextInterrupts.first == IORTInterrupt(gsiv: 0x87, flags: 1))

    let v3 = try #require(t.smmuV3s.first)
    #expect(v3.node.offset == 0x182C && v3.smmu.baseAddress == 0x14F8_0000)
    #expect(v3.smmu.flags == [.coherentAccessOverride] && v3.smmu.model == .generic)
    #expect([v3.smmu.eventGSIV, v3.smmu.priGSIV, v3.smmu.gerrGSIV, v3.smmu.syncGSIV] == [0x3D7, 0, 0x3DB, 0x3D9])
    #expect(
      v3.node.idMappings == [
        IORTIDMapping(
          offset: 0x1870, inputBase: 0, idCount: 0x6FFFF, outputBase: 0x80000, outputReference: 0x1884, flags: 0)
      ])
    #expect(t.node(at: 0x1884)?.body == .itsGroup(IORTITSGroup(identifiers: [0])))
    #expect(t.rootComplexes.map(\.rootComplex.pciSegment) == Array(0...6))
  }

  @Test("root complex requester IDs reach the SMMUv3 at segment * 0x10000 + RID")
  func rootComplexStreamIDs() throws {
    let t = try Self.table(Self.devKit)
    for segment: UInt32 in 0...6 {
      let hit = try #require(t.streamID(forRequesterID: 0x0100, segment: segment))
      #expect(hit.node.offset == 0x182C && hit.id == segment * 0x10000 + 0x100)
    }
    #expect(t.streamID(forRequesterID: 0x0100, segment: 7) == nil)
    // Past the SMMU, the same translation reaches the ITS with the SMMUv3's output ID.
    let rc = t.rootComplexes[2].node
    let its = try #require(t.mapID(0x0100, from: rc, to: IORTNodeType.msiTypes))
    #expect(its.node.offset == 0x1884 && its.id == 0x80000 + 0x20100)
  }

  @Test("named component \\_SB.GPU0 maps to the MMU-500 at 0x3da0000; ranged mappings give the kernel no stream ID")
  func namedComponentGPU() throws {
    let t = try Self.table(Self.devKit)
    let gpu = try #require(t.namedComponent(named: "\\_SB.GPU0"))
    #expect(gpu.offset == 0x740 && gpu.mappingCount == 0x42)
    let maps = t.iommuMappings(of: gpu)
    #expect(maps.count == 0x42)
    #expect(maps.first?.smmu.offset == 0x4FC && maps.first?.streamIDs == 2...2)
    #expect(maps.prefix(3).map(\.mapping.inputBase) == [0x030A_0000, 0x030A_0001, 0x030A_0002])
    #expect(maps.prefix(3).map(\.streamIDs.lowerBound) == [0x002, 0x402, 0x802])
    #expect(t.platformStreamIDs(of: gpu).isEmpty)
  }

  @Test("Surface Laptop 7 (X1E80100): SMMUv3 at 0x15400000, eight root complexes with a 40-bit limit")
  func laptop7() throws {
    let t = try Self.table(Self.laptop7)
    #expect(t.nodes.count == 0x1D && t.findings.isEmpty)
    #expect(
      Self.census(t) == [.itsGroup: 1, .namedComponent: 17, .rootComplex: 8, .smmu: 2, .smmuV3: 1])
    #expect(t.smmus.map(\.smmu.baseAddress) == [0x1500_0000, 0x03DA_0000])
    #expect(t.smmus.map(\.smmu.span) == [0x10_0000, 0x4_0000])
    #expect(t.smmus.map(\.smmu.contextInterrupts.count) == [0x60, 0x19])
    let v3 = try #require(t.smmuV3s.first)
    #expect(v3.node.offset == 0x1435 && v3.smmu.baseAddress == 0x1540_0000)
    #expect([v3.smmu.eventGSIV, v3.smmu.priGSIV, v3.smmu.gerrGSIV, v3.smmu.syncGSIV] == [0xAA, 0, 0xA6, 0xA8])
    #expect(v3.smmu.flags.contains(.coherentAccessOverride) && v3.smmu.deviceIDMappingIndex == 0)
    #expect(v3.node.specialMappingIndex == nil)  // node revision 0
    let rcs = t.rootComplexes
    #expect(rcs.map(\.rootComplex.pciSegment) == Array(0...7))
    #expect(rcs.allSatisfy { $0.rootComplex.memoryAddressLimit == 0x28 && $0.rootComplex.memoryAccess.isCoherent })
    #expect(t.streamID(forRequesterID: 0xFFFF, segment: 1)?.id == 0x1FFFF)
    #expect(t.namedComponents.map(\.component.deviceName).prefix(3) == ["\\_SB.SISP", "\\_SB.GPU0", "\\_SB.JPGE"])
  }

  @Test("Surface Pro X (SC8180X): MMU-500s only; a revision-0 root complex without a memory limit")
  func proX() throws {
    let t = try Self.table(Self.proX)
    #expect(t.nodes.count == 0x1A && t.findings.isEmpty)
    #expect(Self.census(t) == [.namedComponent: 23, .rootComplex: 1, .smmu: 2])
    #expect(t.smmus.map(\.smmu.baseAddress) == [0x1500_0000, 0x02CA_0000])
    #expect(t.smmus.map(\.smmu.model) == [.mmu500, .mmu500])
    #expect(t.smmus.map(\.smmu.pmuInterrupts.count) == [9, 4])
    let rc = try #require(t.rootComplexes.first)
    #expect(rc.rootComplex.atsSupported && rc.rootComplex.memoryAddressLimit == nil)
    #expect(rc.node.idMappings.map(\.outputBase) == [0x1C80, 0x1D00, 0x1D80, 0x1E00])
    #expect(t.iommuMappings(of: rc.node).map(\.smmu.offset) == [0x30, 0x30, 0x30, 0x30])
    #expect(t.iommuMappings(of: rc.node).first?.streamIDs == 0x1C80...0x1CFF)
    // The mappings take input IDs 0x87030000 and up, which no 16-bit requester ID reaches.
    #expect(t.streamID(forRequesterID: 0x0000, segment: 0) == nil)
    #expect(t.namedComponent(named: "\\_SB.ADSP.SLM1.ADCM") != nil)
  }
}
