import MMIO
import PCI
import Testing

/// A configuration space image built byte by byte.
func image(size: Int, _ writes: [(Int, [UInt8])]) -> SnapshotRegisterIO {
  var b = [UInt8](repeating: 0, count: size)
  for (at, bytes) in writes { for (i, v) in bytes.enumerated() where at + i < size { b[at + i] = v } }
  return SnapshotRegisterIO(bytes: b, supportedWidths: .configSpace)
}

func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

@Suite("PCI capability walk over any RegisterIO")
struct CapabilityWalkTests {
  @Test("a simulated function's capabilities are found in list order, through the register file")
  func simulated() {
    let regs = SimulatedConfigSpace.make(
      vendor: 0x1b36, device: 0x0014, classCode: 0x080600,
      capabilities: [
        .init(id: 0x10, body: [0x92, 0x00]), .init(id: 0x11, body: [0x1f, 0x80, 0, 0x40, 0, 0, 0, 0x50, 0, 0]),
      ], size: 256)
    let walk = PCICapabilities.walk(regs)
    #expect(walk.capabilities.map(\.id) == [0x10, 0x11])
    #expect(walk.capabilities.map(\.offset) == [0x40, 0x44])
    #expect(walk.standard == .complete)
    // A PCI Express function with 256 bytes: the extended list starts past the end.
    #expect(walk.extended == .unreadable(offset: 0x100))
    #expect(walk.knownAbsent(PCICapabilityID.msi))
    #expect(!walk.knownAbsent(PCICapabilityID.acs, extended: true))
    let msix = PCICapabilities.decode(walk.capabilities[1], in: regs)
    #expect(msix.first?.fields.map(\.value) == [31, 0, 1])
  }

  @Test("64 bytes of config space: the list is unreadable from 0x40, and nothing is taken for absent")
  func truncated() {
    let io = image(size: 64, [(0x06, [0x10, 0x00]), (0x34, [0x40])])
    let walk = PCICapabilities.walk(io)
    #expect(walk.capabilities.isEmpty)
    #expect(walk.standard == .unreadable(offset: 0x40))
    #expect(walk.extended == .unreadable(offset: 0x40))
    for id in [PCICapabilityID.msi, PCICapabilityID.msix, PCICapabilityID.pciExpress] {
      #expect(!walk.knownAbsent(id))
    }
    #expect(!walk.knownAbsent(PCICapabilityID.acs, extended: true))
  }

  @Test("Status.CapList clear: no list, and every capability is known absent")
  func noList() {
    let walk = PCICapabilities.walk(image(size: 256, [(0x34, [0x40]), (0x40, [0x05, 0x00])]))
    #expect(walk.standard == .absent && walk.extended == .notApplicable && walk.capabilities.isEmpty)
    #expect(walk.knownAbsent(PCICapabilityID.msi) && walk.knownAbsent(PCICapabilityID.ats, extended: true))
  }

  @Test("a loop, a pointer into the header and an extended pointer below 0x100 are malformed, not endless")
  func malformed() {
    let loop = image(size: 256, [(0x06, [0x10]), (0x34, [0x40]), (0x40, [0x05, 0x50]), (0x50, [0x01, 0x40])])
    #expect(PCICapabilities.walk(loop).standard == .malformed(offset: 0x40, reason: "capability list loops"))
    let header = image(size: 256, [(0x06, [0x10]), (0x34, [0x40]), (0x40, [0x05, 0x20])])
    #expect(
      PCICapabilities.walk(header).standard == .malformed(offset: 0x20, reason: "capability pointer into the header"))
    let ext = image(
      size: 4096, [(0x06, [0x10]), (0x34, [0x40]), (0x40, [0x10, 0x00, 0x42, 0x00]), (0x100, le32(0x0801_000d))])
    #expect(
      PCICapabilities.walk(ext).extended
        == .malformed(offset: 0x100, reason: "extended capability pointer 0x80 below 0x100"))
  }

  @Test("a root port's ACS registers decode field by field (lspci's ACSCap/ACSCtl bits)")
  func acs() {
    let io = image(
      size: 4096,
      [
        (0x06, [0x10]), (0x34, [0x40]), (0x40, [0x10, 0x00, 0x42, 0x01]), (0x100, le32(0x1401_0001)),
        (0x140, le32(0x0001_000d)), (0x144, [0x5f, 0x00, 0x1d, 0x00]),
      ])
    let walk = PCICapabilities.walk(io)
    #expect(walk.extended == .complete)
    let acs = walk.first(PCICapabilityID.acs, extended: true)
    #expect(acs != nil)
    #expect(acs?.offset == 0x140 && acs?.version == 1 && acs?.name == "Access Control Services")
    let regs = acs.map { PCICapabilities.decode($0, in: io) } ?? []
    #expect(regs.map(\.name) == ["ACS Capability", "ACS Control"])
    let control = regs.last.map { Dictionary(uniqueKeysWithValues: $0.fields.map { ($0.name, $0.value) }) } ?? [:]
    #expect(
      control == [
        "SrcValid": 1, "TransBlk": 0, "ReqRedir": 1, "CmpltRedir": 1, "UpstreamFwd": 1, "EgressCtrl": 0,
        "DirectTrans": 0,
      ])
    #expect(PCICapabilities.portTypeName(4) == "Root Port")
  }

  @Test("the AMD IOMMU capability decodes as oracles.md records the Zen 1 IOMMU")
  func amdIOMMU() {
    let io = image(
      size: 256,
      [(0x06, [0x10]), (0x34, [0x40]), (0x40, le32(0x190B_640F)), (0x44, le32(0xFEB8_0001)), (0x50, le32(0x0020_3040))])
    let walk = PCICapabilities.walk(io)
    let regs = walk.capabilities.first.map { PCICapabilities.decode($0, in: io) } ?? []
    let fields = Dictionary(
      uniqueKeysWithValues: regs.flatMap { r in r.fields.map { ("\(r.name).\($0.name)", $0.value) } })
    #expect(fields["IOMMU Capability Header.CapType"] == 3)
    #expect(fields["IOMMU Capability Header.EFRSup"] == 1)
    #expect(fields["IOMMU Base Address Low.Enable"] == 1)
    #expect(fields["IOMMU Base Address Low.BaseAddress_31_14"].map { $0 << 14 } == 0xFEB8_0000)
    #expect(fields["IOMMU Miscellaneous Information 0.PAsize"] == 48)
    #expect(fields["IOMMU Miscellaneous Information 0.VAsize"] == 64)
    #expect(fields["IOMMU Miscellaneous Information 0.GVAsize"] == 2)
    // The chain goes on to 0x64, which this image leaves zero: the list ends there.
    #expect(walk.capabilities.map(\.offset) == [0x40, 0x64])
  }
}
