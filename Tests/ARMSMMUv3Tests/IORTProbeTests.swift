import Foundation
import IOMMUModelTesting
import Testing

/// The real IORT of a Windows Dev Kit 2023 (Snapdragon 8cx Gen 3), whose PCIe root complexes
/// sit behind an SMMUv3 at 0x14f80000 (COHACC override, event/gerror/sync GSIVs, no PRI).
private func devKitIORT() throws -> IORTTable {
  let url = RepositoryPaths.fixtures.appendingPathComponent(
    "acpi/IORT_windows-dev-kit-2023_sc8280xp_smmuv2-mmu500+smmuv3.dsl")
  let bytes = try ACPITableSource.bytes(fromDisassembly: try RepositoryPaths.text(url), source: url.lastPathComponent)
  return try IORTTable(bytes: bytes)
}

@Suite("arm-smmu-v3 described by IORT (ACPI)")
struct IORTProbeTests {
  @Test("the IORT SMMUv3 node becomes arm-smmu-v3.0.auto, probes through the ACPI path and resets")
  func devKit() throws {
    let table = try devKitIORT()
    let memory = PhysicalMemory()
    memory.addRAM(base: 0x8000_0000, size: 64 << 20)
    var models: [UInt64: SMMUv3] = [:]
    var recorders: [UInt64: SMMUv3TraceRecorder] = [:]
    let devices = IORTSMMUv3Platform.devices(from: table) { base, size in
      let smmu = SMMUv3(memory: memory)
      models[base] = smmu
      let recorder = SMMUv3TraceRecorder(smmu)
      recorders[base] = recorder
      return recorder.io
    }
    let device = try #require(devices.first)
    #expect(devices.count == 1)
    #expect(device.name == "arm-smmu-v3.0.auto")
    #expect(device.resources.first?.base == 0x14f8_0000)
    #expect(device.propertyStrings("interrupt-names") == ["eventq", "gerror", "cmdq-sync"])

    let kernel = Kernel()
    let core = DriverCore(
      kernel: kernel, memory: memory,
      dmaAllocator: DMAAllocator(memory: memory, base: 0x8000_0000, size: 64 << 20, owner: .kernel("kernel")))
    core.register(device)
    core.register(ARMSMMUv3Driver())
    #expect(device.isBound)
    #expect(
      kernel.log.lines == [
        "arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x0",
        "arm-smmu-v3 arm-smmu-v3.0.auto: oas 44-bit (features 0x01088705)",
        "arm-smmu-v3 arm-smmu-v3.0.auto: allocated 65536 entries for cmdq",
        "arm-smmu-v3 arm-smmu-v3.0.auto: allocated 32768 entries for evtq",
      ])
    // No "priq" line in IORT: the driver finds eventq and gerror and warns about nothing.
    let smmu = try #require(models[0x14f8_0000])
    #expect(smmu.appliedCR0 == 0xd)
    #expect(ARMSMMUv3Driver.smmu(of: device)?.sysfsName == "smmu3.0x0000000014f80000")
  }

  @Test("a root complex requester ID reaches the SMMUv3 through IORT's ID mappings")
  func streamIDs() throws {
    let table = try devKitIORT()
    let ids = (0..<4).compactMap { segment in
      IORTSMMUv3Platform.streamID(in: table, requesterID: 0x0, segment: UInt32(segment), smmuBase: 0x14f8_0000)
    }
    #expect(!ids.isEmpty)
  }
}
