import Foundation
import HostState
import IOMMURegisters
import Testing

@Suite("Captured sysfs and procfs trees")
struct SysfsTreeTests {
  static let laptop = HostFixtures.report(sys: HostFixtures.laptop + "/sys", proc: HostFixtures.laptop + "/proc")

  @Test("an Intel laptop: two VT-d units, enabled, with the evidence listed")
  func verdict() {
    let r = Self.laptop
    #expect(r.verdict.state == "enabled")
    #expect(r.iommus.map(\.name) == ["dmar0", "dmar1"])
    #expect(r.iommus.map(\.driver) == ["intel-iommu", "intel-iommu"])
    #expect(r.verdict.evidence.contains { $0.hasSuffix("class/iommu: dmar0 (intel-iommu), dmar1 (intel-iommu)") })
    #expect(r.verdict.evidence.contains("firmware tables: DMAR (parsed)"))
    #expect(r.iommus[1].devices == ["0000:00:14.0", "0000:00:1c.0", "0000:01:00.0"])
  }

  @Test("CAP and ECAP from sysfs decode with the VT-d mnemonics (Pixelbook dmar0 pair)")
  func intelUnit() throws {
    let unit = try #require(Self.laptop.iommus.first?.intel)
    #expect(unit.address == "0xfed90000" && unit.version == "1:0")
    #expect(unit.domainsSupported == 256 && unit.domainsUsed == 2)
    #expect(unit.drhd == "DRHD @0x30 segment 0")
    #expect(Self.laptop.iommus[1].intel?.drhd == "DRHD @0x48 segment 0 INCLUDE_PCI_ALL")
    let cap = try #require(unit.cap).values
    #expect(cap["ND"] == 2 && cap["SAGAW"] == 0x4 && cap["MGAW"] == 0x26 && cap["FRO"] == 0x40 && cap["FL1GP"] == 1)
    let ecap = try #require(unit.ecap).values
    #expect(ecap["IRO"] == 0x50 && ecap["QI"] == 1 && ecap["IR"] == 1 && ecap["PASID"] == 1 && ecap["SMTS"] == 0)
    #expect(unit.derived["mgawBits"] == "39" && unit.derived["iotlbRegisterOffset"] == "0x500")
    #expect(unit.derived["faultRecordingOffset"] == "0x400" && unit.derived["secondStageLevels"] == "4")
  }

  @Test("groups: default domain type, members sorted, reserved regions; each function's group and driver")
  func groups() throws {
    let r = Self.laptop
    #expect(r.groups.map(\.id) == [0, 1, 2])
    #expect(r.groups.map(\.defaultDomain) == ["DMA-FQ", "DMA-FQ", "DMA"])
    #expect(r.groups[2].devices == ["0000:00:1c.0", "0000:01:00.0"])
    #expect(r.groups[0].reservedRegions.first?.type == "direct")
    let nvme = try #require(r.pci.functions.first { $0.address == "0000:01:00.0" })
    #expect(nvme.driver == "nvme" && nvme.iommuGroup == 2)
    #expect(r.pci.functions.first { $0.address == "0000:00:00.0" }?.iommuGroup == nil)
    #expect(r.text.contains("IOMMU Group 2: DMA\n\t0000:00:1c.0 [0604]: [8086:9d10] driver: pcieport iommu: dmar1\n"))
    #expect(r.text.contains("\t0000:00:02.0 [0300]: [8086:5916] driver: i915 iommu: dmar0\n"))
  }

  @Test("a 64-byte config file (a non-root reader's view) is reported as needing root, not as lacking ACS")
  func needsRoot() throws {
    let r = Self.laptop
    let nvme = try #require(r.pci.functions.first { $0.address == "0000:01:00.0" })
    #expect(nvme.configBytes == 64 && nvme.capabilities.isEmpty)
    #expect(nvme.capabilityList == "needs-root (from 0x40)")
    #expect(
      nvme.unknown == [
        "MSI, MSI-X, PCI Express: needs root: config space readable only up to 0x40",
        "ACS, ATS, PRI, PASID: needs root: config space readable only up to 0x40",
      ])
    #expect(r.warnings.map(\.kind) == ["needs-root"])
    let port = try #require(r.pci.functions.first { $0.address == "0000:00:1c.0" })
    #expect(port.register("Access Control Services", "ACS Control")["SrcValid"] == 1)
  }

  @Test("the command line is intent, kept apart; kexec and the crash kernel reservation are read")
  func kernel() {
    let k = Self.laptop.kernel
    #expect(k.release == "7.2.0-1-amd64")
    #expect(k.commandLineIntent.parameters.map(\.name) == ["intel_iommu", "iommu.strict"])
    #expect(
      k.commandLineIntent.parameters[0].meaning == "enable Intel VT-d DMA remapping; use scalable mode if supported")
    #expect(k.handover.kexecLoaded == false && k.handover.kexecCrashLoaded == true)
    #expect(k.handover.kexecCrashSize == 268_435_456)
    #expect(k.handover.crashKernelRegions.map(\.start) == ["0x5e000000"] && k.handover.iomem == "readable")
  }

  @Test("the DMAR table is parsed by the firmware parser: two DRHDs, the second INCLUDE_PCI_ALL")
  func dmar() throws {
    let dmar = try #require(Self.laptop.firmware.first { $0.signature == "DMAR" })
    #expect(dmar.status == "parsed" && dmar.checksumValid == true && dmar.length == 312)
    #expect(dmar.structures.filter { $0.hasPrefix("DRHD") }.count == 2)
    #expect(dmar.structures.contains { $0.hasPrefix("DRHD @0x48: base 0xfed91000") && $0.contains("INCLUDE_PCI_ALL") })
    #expect(Self.laptop.firmware.map(\.status) == ["parsed", "absent", "absent"])
  }

  @Test("real IVRS and IORT disassemblies in an --acpi-tables directory are parsed and summarised")
  func ivrsAndIORT() throws {
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let acpi = HostFixtures.host + "/../acpi/"
    try FileManager.default.copyItem(
      atPath: acpi + "IVRS_surface-laptop-4-amd_ryzen-renoir.dsl", toPath: dir + "/ivrs.dsl")
    try FileManager.default.copyItem(
      atPath: acpi + "IORT_surface-laptop-7_x1e80100_smmuv2-mmu500+smmuv3.dsl", toPath: dir + "/iort.dsl")
    let r = HostFixtures.report(acpi: dir)
    #expect(r.firmware.map(\.status) == ["absent", "parsed", "parsed"])
    let ivrs = try #require(r.firmware.first { $0.signature == "IVRS" })
    #expect(ivrs.structures.contains { $0.hasPrefix("IVHD 10h @0x30: IOMMU 00:00.2 base 0xfdf00000") })
    let iort = try #require(r.firmware.first { $0.signature == "IORT" })
    #expect(iort.structures.contains { $0.hasPrefix("SMMUv3 @0x1435: base 0x15400000") })
    // Firmware describes IOMMUs the (absent) kernel did not register.
    #expect(r.verdict.state == "present-not-enabled")
    #expect(r.verdict.evidence.contains("firmware tables: IORT (parsed), IVRS (parsed)"))
  }

  @Test("SMMUv3, SMMUv2 and RISC-V units are told apart by the names their drivers give them")
  func otherDrivers() throws {
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for name in ["smmu3.0x0000000009050000", "smmu.0x0000000015000000", "riscv-iommu@0000:00:03.0", "virtio-iommu"] {
      try FileManager.default.createDirectory(
        atPath: "\(dir)/class/iommu/\(name)/devices", withIntermediateDirectories: true)
    }
    try FileManager.default.createDirectory(
      atPath: dir + "/class/iommu/smmu3.0x0000000009050000/devices/0000:00:01.0", withIntermediateDirectories: true)
    let r = HostFixtures.report(sys: dir)
    #expect(r.iommus.map(\.driver) == ["riscv-iommu", "arm-smmu", "arm-smmu-v3", "unknown"])
    #expect(r.iommus.first { $0.driver == "arm-smmu-v3" }?.devices == ["0000:00:01.0"])
    #expect(r.verdict.state == "enabled")
  }

  @Test("AMD units: both historical formats of amd-iommu/features, and the capability header")
  func amd() throws {
    let r = HostFixtures.report(sys: HostFixtures.amd + "/sys", proc: HostFixtures.amd + "/proc")
    #expect(r.iommus.map(\.driver) == ["amd-iommu", "amd-iommu"])
    let old = try #require(r.iommus[0].amd)
    #expect(old.featuresFormat == "efr" && old.efr?.raw == "0x058f77ef22294ade" && old.efr2 == nil)
    #expect(old.cap?.values["CapType"] == 3 && old.cap?.values["EFRSup"] == 1)
    let new = try #require(r.iommus[1].amd)
    // Linux 6.12 prints EFR first.
    #expect(
      new.featuresFormat == "efr:efr2" && new.efr?.raw == "0xa5bf732fa2295afe" && new.efr2 == "0x0000000000000005")
    #expect(new.efr?.values["PPRSup"] == 1 && new.efr?.values["GTSup"] == 1 && new.efr?.values["XTSup"] == 1)
    #expect(r.verdict.state == "enabled")
  }

  @Test("truncated and corrupted tables: named with their offset, and the rest of the report goes on")
  func brokenTables() throws {
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let good = try Data(contentsOf: URL(fileURLWithPath: HostFixtures.laptop + "/sys/firmware/acpi/tables/DMAR"))
    // Truncated: the header says 312 bytes, 60 are there.
    try good.prefix(60).write(to: URL(fileURLWithPath: dir + "/DMAR"))
    // Corrupted: a valid IVRS header whose checksum is off.
    var ivrs = [UInt8](repeating: 0, count: 48)
    ivrs[0...3] = [0x49, 0x56, 0x52, 0x53]
    ivrs[4] = 48
    try Data(ivrs).write(to: URL(fileURLWithPath: dir + "/IVRS"))
    let r = HostFixtures.report(sys: HostFixtures.laptop + "/sys", proc: HostFixtures.laptop + "/proc", acpi: dir)
    let dmar = try #require(r.firmware.first { $0.signature == "DMAR" })
    #expect(dmar.status == "malformed")
    #expect(dmar.error == "DMAR: header length 312 but 60 bytes given")
    #expect(r.warnings.contains { $0.kind == "malformed-table" && $0.message.contains("DMAR") })
    let ivrsReport = try #require(r.firmware.first { $0.signature == "IVRS" })
    #expect(ivrsReport.checksumValid == false)
    // A length patched to match: the walk stops at the DRHD that runs past the end, by offset.
    var cut = [UInt8](good.prefix(60))
    cut[4] = 60
    cut[5] = 0
    try Data(cut).write(to: URL(fileURLWithPath: dir + "/DMAR"))
    let r2 = HostFixtures.report(sys: "/nonexistent", acpi: dir)
    let dmar2 = try #require(r2.firmware.first { $0.signature == "DMAR" })
    #expect(dmar2.status == "malformed" && dmar2.error?.contains("offset 0x30") == true)
    // Everything else is still there.
    #expect(r.iommus.count == 2 && r.groups.count == 3 && r.verdict.state == "enabled")
  }
}
