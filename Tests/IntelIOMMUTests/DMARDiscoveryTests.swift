import Firmware
import IOMMUModelTesting
import Memory
import SimulatedHardware
import Testing

@testable import IntelIOMMU

@Suite("DMAR discovery on a real table: DRHD order, INCLUDE_PCI_ALL, scopes, RMRR, ANDD, igfx_off")
struct DMARDiscoveryTests {
  @Test("Surface Pro 4 (Skylake): a gfx unit and an INCLUDE_PCI_ALL unit; igfx_off ignores the gfx unit")
  func surfacePro4() throws {
    let url = RepositoryPaths.fixtures.appendingPathComponent("acpi/DMAR_surface-pro-4_skylake.dsl")
    let bytes = try ACPITableSource.bytes(fromDisassembly: try RepositoryPaths.text(url), source: url.lastPathComponent)
    let table = DMARDescription(try DMARTable(bytes: bytes))

    let memory = PhysicalMemory()
    memory.addRAM(base: 0, size: 0x1000_0000)
    // A Skylake-client pair of (cap, ecap) from oracles.md §4.3: the gfx unit and the main unit.
    var gfxConfig = VTdConfiguration.qemuDefault
    gfxConfig.capOverride = 0x01c0_000c_4066_0462
    gfxConfig.ecapOverride = 0x7e_3ff0_505e
    var mainConfig = VTdConfiguration.qemuDefault
    mainConfig.capOverride = 0x00d2_008c_4066_0462
    mainConfig.ecapOverride = 0xf0_50da
    let gfx = IntelVTd(name: "dmar0", configuration: gfxConfig, memory: memory)
    let main = IntelVTd(name: "dmar1", configuration: mainConfig, memory: memory)
    let kernel = Kernel(context: KernelContext(commandLine: CommandLine("intel_iommu=on,igfx_off")))
    let allocator = DMAAllocator(memory: memory, base: 0x100_0000, size: 0x400_0000, owner: .kernel("kernel"))
    let core = DriverCore(kernel: kernel, memory: memory, dmaAllocator: allocator)
    let driver = IntelIOMMUDriver(
      core: core, firmware: table, registerBlocks: [0xfed9_0000: gfx.mmio, 0xfed9_1000: main.mmio],
      pciDevices: [0x0000, 0x0010, 0x00a0, 0x00f8], ioapicIDs: [2])
    driver.graphicsDevices = [0x0010]

    let outcome = driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(
      kernel.log.lines == [
        "DMAR: IOMMU enabled", "DMAR: Disable GFX device mapping", "DMAR: Host address width 39",
        "DMAR: DRHD base: 0x000000fed90000 flags: 0x0",
        "DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 1c0000c40660462 ecap 7e3ff0505e",
        "DMAR: DRHD base: 0x000000fed91000 flags: 0x1",
        "DMAR: dmar1: reg_base_addr fed91000 ver 1:0 cap d2008c40660462 ecap f050da",
        "DMAR: RMRR base: 0x0000003e2e0000 end: 0x0000003e2fffff",
        "DMAR: RMRR base: 0x0000008d000000 end: 0x0000008f7fffff",
        "DMAR: ANDD device: 1 name: \\_SB.PCI0.I2C0", "DMAR: ANDD device: 2 name: \\_SB.PCI0.I2C1",
        "DMAR: ANDD device: 3 name: \\_SB.PCI0.I2C2", "DMAR: ANDD device: 4 name: \\_SB.PCI0.I2C3",
        "DMAR-IR: IOAPIC id 2 under DRHD base  0xfed91000 IOMMU 1",
        "DMAR-IR: Enabled IRQ remapping in xapic mode",
        "DMAR: No ATSR found", "DMAR: No SATC found", "DMAR: dmar1: Using Queued invalidation",
        // The gfx unit is ignored (igfx_off): 00:02.0 is not probed and joins no group.
        "pci 0000:00:00.0: Adding to iommu group 0", "pci 0000:00:14.0: Adding to iommu group 1",
        "pci 0000:00:1f.0: Adding to iommu group 2",
        "DMAR: Intel(R) Virtualization Technology for Directed I/O",
      ])
    let units = driver.units
    #expect(units.map { $0.iommu?.name } == ["dmar0", "dmar1"])
    #expect(units[0].devices == [0x0010] && units[0].gfxDedicated && units[0].ignored)
    #expect(units[1].includeAll && !units[1].ignored)
    #expect(driver.devicesBehind(units[1]) == [0x0000, 0x00a0, 0x00f8])
    #expect(driver.iommu(for: 0x0010) == nil)
    #expect(!gfx.translationEnabled && main.translationEnabled)
    #expect(driver.rmrrUnits.count == 2)
  }
}
