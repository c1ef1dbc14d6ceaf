import Foundation
import IOMMUModelTesting
import Testing

/// SMMUs that ACPI describes: the IORT of a Surface Pro X (SC8180X, one MMU-500 with 128
/// context interrupts and a 1 MiB window) through iort_add_platform_device() and
/// arm_smmu_device_acpi_probe().
@Suite("arm-smmu from IORT")
struct ARMSMMUIORTTests {
  static func table() throws -> IORTTable {
    let url = RepositoryPaths.fixtures.appendingPathComponent(
      "acpi/IORT_surface-pro-x-sq1_sc8180x_smmuv2-mmu500.dsl")
    let bytes = try ACPITableSource.bytes(
      fromDisassembly: try RepositoryPaths.text(url), source: url.lastPathComponent)
    return try IORTTable(bytes: bytes)
  }

  /// An MMU-500 whose SMMU_TOP matches the node's 1 MiB span: 128 global pages, 128 banks.
  static let sc8180x: SMMUv2Configuration = {
    var c = SMMUv2Configuration.mmu500
    c.id1 = 0x6000_0080
    return c
  }()

  struct Bench {
    let hw = ARMSMMUv2(configuration: ARMSMMUIORTTests.sc8180x)
    let traced: TracedRegisters
    let env = TestKernel()
    let driver = ARMSMMUDriver()
    let device: Device

    init(table: IORTTable) throws {
      traced = TracedRegisters(hw.registers)
      let node = try #require(table.smmus.first?.node)
      device = try #require(
        ARMSMMUDriver.iortPlatformDevice(table: table, node: node, instance: 0, io: traced.recorder))
      env.core.register(driver)
      env.core.register(device)
    }
  }

  @Test("the IORT MMU-500 node becomes arm-smmu.0.auto with 138 interrupts and probes as SMMUv2")
  func probeFromIORT() throws {
    let b = try Bench(table: Self.table())
    #expect(b.device.irqCount == 138)
    #expect(b.device.resources[0].base == 0x1500_0000)
    #expect(b.device.isBound)
    let q = "arm-smmu arm-smmu.0.auto: "
    #expect(b.env.log.contains(q + "SMMUv2 with:"))
    #expect(b.env.log.contains(q + "\t128 context banks (0 stage-2 only)"))
    #expect(!b.env.log.contains { $0.contains("differs from mapped region size") })
    #expect(b.env.log.last == q + "\tpreserved 0 boot mappings")
    #expect(b.driver.smmu(of: b.device)?.model == .armMMU500)
  }

  /// arm_smmu_rmr_install_bypass_smr() looks each RMR stream up with arm_smmu_find_sme(sid, ~0):
  /// a mask of all ones overlaps every valid SMR, so once 0x800 holds SMR0, 0x801 is -EINVAL
  /// and skipped. The model keeps the kernel's outcome: one boot mapping, 0x801 unprotected.
  @Test("of RMR streams 0x800-0x801 only the first keeps a BYPASS entry: the second overlaps it under mask ~0")
  func rmrFromIORT() throws {
    var table = try Self.table()
    let smmuOffset = try #require(table.smmus.first?.node.offset)
    table.nodes.append(
      IORTNode(
        offset: 0x4000, rawType: 6, length: 0, revision: 3, identifier: 0, mappingCount: 1,
        mappingOffset: 0,
        idMappings: [
          IORTIDMapping(
            offset: 0, inputBase: 0, idCount: 1, outputBase: 0x800,
            outputReference: UInt32(smmuOffset), flags: 0)
        ],
        body: .rmr(
          IORTRMR(flags: 1, ranges: [.init(offset: 0, baseAddress: 0x9c00_0000, length: 0x1000)]))))
    let b = try Bench(table: table)
    #expect(b.device.isBound)
    #expect(b.env.log.last == "arm-smmu arm-smmu.0.auto: \tpreserved 1 boot mapping")
    #expect(Array(b.traced.lines[7...8]) == [line("W", 0xc00, 0x0001_0000), line("W", 0x800, 0x8000_0800)])
    #expect(
      b.hw.route(streamID: 0x800, address: 0x9c00_0000, isWrite: true)
        == .bypassed(physical: 0x9c00_0000))
    #expect(b.hw.route(streamID: 0x801, address: 0x9c00_0000, isWrite: true).isBlocked)
  }

  @Test("an IORT SMMU node with an unknown model is -ENODEV without a message")
  func unknownModel() throws {
    var table = try Self.table()
    let index = try #require(table.nodes.firstIndex { $0.rawType == 3 })
    guard case .smmu(var smmu) = table.nodes[index].body else { return }
    smmu.rawModel = 9
    table.nodes[index].body = .smmu(smmu)
    let b = try Bench(table: table)
    #expect(b.device.state == .probeFailed(.ENODEV))
    #expect(b.env.log.isEmpty)
    #expect(b.traced.lines.isEmpty)
  }
}
