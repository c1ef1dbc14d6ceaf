import Firmware
import Testing

@Suite("DMAR: Intel VT-d remapping structures from real machines")
struct DMARTests {
  typealias Scope = DMARDeviceScope

  @Test("Surface Pro 4 (Skylake): header, two DRHDs with their scopes, two RMRRs, four ANDDs")
  func skylake() throws {
    let t = try DMARTable(bytes: TableFixtures.bytes("DMAR_surface-pro-4_skylake.dsl"))
    #expect(t.header.length == 0x138 && t.header.checksumValid && t.findings.isEmpty)
    #expect(t.hostAddressWidthField == 0x26 && t.hostAddressWidth == 39)
    #expect(t.flags == [.interruptRemapping])
    #expect(t.structures.count == 8)

    let units = t.hardwareUnits
    #expect(units.map(\.registerBase) == [0xFED9_0000, 0xFED9_1000])
    #expect(units.map(\.offset) == [0x30, 0x48])
    #expect(units.map(\.flags) == [[], [.includePCIAll]])
    #expect(units.allSatisfy { $0.segment == 0 && $0.registerSetSize == 4096 })
    let gfx = units[0].scopes
    #expect(gfx.count == 1 && gfx[0].kind == .endpoint && gfx[0].startBus == 0)
    #expect(gfx[0].path == [.init(device: 2, function: 0)])
    let all = units[1].scopes
    #expect(all.map(\.kind) == [.ioapic, .hpet, .namespace, .namespace, .namespace, .namespace])
    #expect(all.map(\.enumerationID) == [2, 0, 1, 2, 3, 4])
    #expect(all.map(\.startBus) == [0xF0, 0, 0, 0, 0, 0])
    #expect(
      all.map(\.path) == [[.init(device: 0x1F, function: 0)], [.init(device: 0x1F, function: 0)]]
        + (0...3).map {
          [Scope.PathElement(device: 0x15, function: UInt8($0))]
        })

    let rmrr = t.reservedMemoryRegions
    #expect(rmrr.map(\.baseAddress) == [0x3E2E_0000, 0x8D00_0000])
    #expect(rmrr.map(\.endAddress) == [0x3E2F_FFFF, 0x8F7F_FFFF])
    #expect(
      rmrr.map { $0.scopes.map(\.path) } == [[[.init(device: 0x14, function: 0)]], [[.init(device: 2, function: 0)]]])

    #expect(t.namespaceDevices.map(\.deviceNumber) == [1, 2, 3, 4])
    #expect(t.namespaceDevices.map(\.name) == (0...3).map { "\\_SB.PCI0.I2C\($0)" })
  }

  struct Expectation: Sendable, CustomStringConvertible {
    var file: String
    var haw: Int
    var flags: UInt8
    var drhd: [UInt64]
    var includeAll: UInt64
    var rmrr: [ClosedRange<UInt64>]
    var description: String { file }
  }

  static let machines: [Expectation] = [
    .init(
      file: "DMAR_surface-pro-1_ivybridge.dsl", haw: 36, flags: 0x01, drhd: [0xFED9_0000, 0xFED9_1000],
      includeAll: 0xFED9_1000, rmrr: [0xD957_7000...0xD958_BFFF, 0xDB80_0000...0xDF9F_FFFF]),
    .init(
      file: "DMAR_surface-pro-4_skylake.dsl", haw: 39, flags: 0x01, drhd: [0xFED9_0000, 0xFED9_1000],
      includeAll: 0xFED9_1000, rmrr: [0x3E2E_0000...0x3E2F_FFFF, 0x8D00_0000...0x8F7F_FFFF]),
    .init(
      file: "DMAR_surface-laptop-studio-1_tigerlake-h.dsl", haw: 39, flags: 0x05,
      drhd: [0xFED9_0000, 0xFED8_4000, 0xFED8_5000, 0xFED9_1000], includeAll: 0xFED9_1000,
      rmrr: [0x8380_0000...0x87BF_FFFF]),
    .init(
      file: "DMAR_surface-pro-9-intel_alderlake.dsl", haw: 39, flags: 0x05,
      drhd: [0xFED9_0000, 0xFED9_2000, 0xFED9_1000], includeAll: 0xFED9_1000, rmrr: [0x4400_0000...0x483F_FFFF]),
    .init(
      file: "DMAR_surface-pro-10-business_meteorlake.dsl", haw: 42, flags: 0x05, drhd: [0xFC80_0000, 0xFC80_1000],
      includeAll: 0xFC80_1000, rmrr: []),
    .init(
      file: "DMAR_surface-laptop-se_jasperlake.dsl", haw: 39, flags: 0x05, drhd: [0xFED6_4000, 0xFED6_5000],
      includeAll: 0xFED6_5000, rmrr: [0x7844_5000...0x7846_4FFF, 0x7B80_0000...0x7FFF_FFFF]),
  ]

  @Test("every real DMAR: width, flags, DRHD bases, the INCLUDE_PCI_ALL unit, RMRR ranges", arguments: machines)
  func realTables(_ e: Expectation) throws {
    let t = try DMARTable(bytes: TableFixtures.bytes(e.file))
    #expect(t.hostAddressWidth == e.haw)
    #expect(t.flags.rawValue == e.flags)
    #expect(t.hardwareUnits.map(\.registerBase) == e.drhd)
    #expect(t.hardwareUnits.filter { $0.flags.contains(.includePCIAll) }.map(\.registerBase) == [e.includeAll])
    #expect(t.hardwareUnitsInKernelOrder.last?.registerBase == e.includeAll)
    #expect(t.reservedMemoryRegions.map { $0.baseAddress...$0.endAddress } == e.rmrr)
    #expect(t.header.checksumValid && t.findings.isEmpty)
  }

  @Test("Tiger Lake-H: Thunderbolt units are scoped to bridges 00:07.0 and 00:07.1; platform opt-in is set")
  func tigerLakeBridges() throws {
    let t = try DMARTable(bytes: TableFixtures.bytes("DMAR_surface-laptop-studio-1_tigerlake-h.dsl"))
    #expect(t.flags.contains(.dmaControlPlatformOptIn) && !t.flags.contains(.x2APICOptOut))
    let tbt = t.hardwareUnits[1...2].map(\.scopes)
    #expect(tbt.map { $0.map(\.kind) } == [[.bridge], [.bridge]])
    #expect(tbt.map { $0[0].singleHopAddress.map { [$0.bus, $0.device, $0.function] } } == [[0, 7, 0], [0, 7, 1]])
    #expect(t.hardwareUnitsInKernelOrder.map(\.registerBase) == [0xFED8_5000, 0xFED8_4000, 0xFED9_0000, 0xFED9_1000])
  }

  @Test("Meteor Lake: SATC with ATC_REQUIRED and three endpoints; the SIDP (type 6) is kept as unknown")
  func meteorLake() throws {
    let bytes = try TableFixtures.bytes("DMAR_surface-pro-10-business_meteorlake.dsl")
    let t = try DMARTable(bytes: bytes)
    let satc = try #require(t.socIntegratedATC.first)
    #expect(satc.offset == 0x68 && satc.atcRequired && satc.segment == 0)
    #expect(satc.scopes.map { $0.path[0].device } == [0x02, 0x05, 0x0B])
    #expect(t.structures.last == .unknown(type: 6, offset: 0x88, bytes: Array(bytes[0x88..<0xA8])))
  }
}
