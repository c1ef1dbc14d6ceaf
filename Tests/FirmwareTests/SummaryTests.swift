import Firmware
import Testing

@Suite("Summary lines: one per structure, for reports and the CLI")
struct SummaryTests {
  @Test("Surface Pro 4 DMAR: every structure on its line, scopes as bus:dev.fn")
  func dmar() throws {
    let t = try FirmwareTable(bytes: TableFixtures.bytes("DMAR_surface-pro-4_skylake.dsl"))
    #expect(
      t.summaryLines == [
        "DMAR: host address width 39, flags 0x1 (INTR_REMAP)",
        "DRHD @0x30: base 0xfed90000 size 0x1000 segment 0; scope: endpoint 00:02.0",
        "DRHD @0x48: base 0xfed91000 size 0x1000 segment 0 INCLUDE_PCI_ALL; scope: IOAPIC 2 f0:1f.0, HPET 0 00:1f.0, "
          + "namespace 1 00:15.0, namespace 2 00:15.1, namespace 3 00:15.2, namespace 4 00:15.3",
        "RMRR @0x88: 0x3e2e0000-0x3e2fffff segment 0; scope: endpoint 00:14.0",
        "RMRR @0xa8: 0x8d000000-0x8f7fffff segment 0; scope: endpoint 00:02.0",
        "ANDD @0xc8: device 1 \\_SB.PCI0.I2C0",
        "ANDD @0xe4: device 2 \\_SB.PCI0.I2C1",
        "ANDD @0x100: device 3 \\_SB.PCI0.I2C2",
        "ANDD @0x11c: device 4 \\_SB.PCI0.I2C3",
      ])
    let mtl = try FirmwareTable(bytes: TableFixtures.bytes("DMAR_surface-pro-10-business_meteorlake.dsl"))
    #expect(
      mtl.summaryLines.suffix(2) == [
        "SATC @0x68: segment 0 ATC_REQUIRED; scope: endpoint 00:02.0, endpoint 00:05.0, endpoint 00:0b.0",
        "type 6 @0x88: 32 bytes, skipped by the kernel",
      ])
  }

  @Test("Surface Laptop 7 IORT: SMMUs, a root complex's range and a named component's mappings by target")
  func iort() throws {
    let lines = try FirmwareTable(bytes: TableFixtures.bytes(IORTTests.laptop7)).summaryLines
    #expect(lines.count == 30)
    #expect(
      lines.prefix(4) == [
        "IORT: revision 0, 29 nodes",
        "SMMUv1/v2 @0x30: base 0x15000000 span 0x100000 model MMU-500, 96 context interrupts",
        "SMMUv1/v2 @0x37c: base 0x3da0000 span 0x40000 model MMU-500, 25 context interrupts",
        "root complex @0x490: segment 0, ATS no, 40-bit addresses; IDs 0x0-0xffff -> SMMUv3 @0x1435 0x0-0xffff",
      ])
    #expect(
      lines.contains("named component @0x650: \\_SB.SISP, 36-bit addresses; ID 0xa0030000 -> SMMUv1/v2 @0x30 0x0"))
    #expect(
      lines.contains(
        "named component @0x6a1: \\_SB.GPU0, 48-bit addresses; 6 ID mappings -> SMMUv1/v2 @0x37c, "
          + "16 ID mappings -> SMMUv1/v2 @0x30"))
    #expect(
      lines.suffix(2) == [
        "SMMUv3 @0x1435: base 0x15400000 model generic COHACC, GSIV event 0xaa pri 0x0 gerr 0xa6 sync 0xa8; "
          + "IDs 0x0-0x7ffff -> ITS group @0x148d 0x80000-0xfffff",
        "ITS group @0x148d: ITS 0",
      ])
    let synthetic = try FirmwareTable(bytes: SyntheticIORT.bytes).summaryLines
    #expect(
      synthetic.suffix(3) == [
        "named component @0x104: \\_SB.DMA0, 44-bit addresses; single ID -> SMMUv3 @0x48 0x42",
        "PMCG @0x144: page 0 0x9020000, overflow GSIV 0xc8, node @0x48",
        "RMR @0x16c: 0x80000000+0x10000, 0x80100000+0x2000; single ID -> SMMUv3 @0x48 0x42",
      ])
  }

  @Test("Renoir IVRS and the synthetic one: IVinfo, IVHD lines with their entries, IVMD ranges")
  func ivrs() throws {
    let lines = try FirmwareTable(bytes: TableFixtures.bytes(IVRSTests.renoir)).summaryLines
    #expect(
      lines.prefix(3) == [
        "IVRS: IVinfo 0x203043 (EFRSup, DMA remap), PA 48 bits, VA 64 bits; the kernel uses IVHD type 40h",
        "IVHD 10h @0x30: IOMMU 00:00.2 base 0xfdf00000 segment 0 capability 0x40 flags 0xb0 features 0x80048f6f",
        "  entries: range 00:01.0, to ff:1f.6, range ff:00.0 alias 00:14.5, to ff:1f.7, pad, HPET 0 from 00:14.0, "
          + "IOAPIC 33 from 00:14.0, IOAPIC 34 from 00:00.1",
      ])
    #expect(lines.last?.hasSuffix("IOAPIC 34 from 00:00.1, AMDI0022 \\_SB.FUR0 as 00:14.5") == true)
    let synthetic = try FirmwareTable(bytes: IVRSTests.synthetic).summaryLines
    #expect(
      synthetic.suffix(5) == [
        "  entries: all, select 00:02.0 ext 0x80000000, range 00:04.0 ext 0x0, to 00:05.7, 00:06.0 alias 00:06.1, "
          + "AMDI0030 4660 as 00:14.0",
        "IVMD 20h @0x90: 0x9d000000+0x100000 devices 00:00.0-ff:1f.7 unity read write",
        "IVMD 21h @0xb0: 0xa0000000+0x1000 devices 00:02.0-00:02.0 exclusion",
        "IVMD 22h @0xd0: 0xb0000000+0x2000 devices 01:00.0-01:1f.7 unity read write",
        "type 30h @0xf0: 8 bytes",
      ])
  }
}
