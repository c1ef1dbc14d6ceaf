import IOMMUModelTesting
import Testing

private let dev = "arm-smmu-v3 9050000.smmuv3: "

@Suite("shutdown, remove and the handover variants")
struct ShutdownAndVariantTests {
  @Test("the variants the handover machine enumerates")
  func variants() {
    #expect(ARMSMMUv3Variant.allCases.map(\.rawValue) == ["kernel", "abort-handover", "kdump-adopt", "kernel-list"])
    #expect(ARMSMMUv3Variant(rawValue: "abort-handover") == .abortHandover)
  }

  @Test("Linux 7.2 shutdown clears CR0 only: traffic then bypasses through GBPA")
  func kernelShutdown() {
    let board = ARMSMMUv3Board()
    board.probe()
    board.recorder.removeAll()
    board.shutdown()
    #expect(board.recorder.lines == ["W32 0x0020 0x00000000", "R32 0x0024 0x00000000"])
    #expect(board.smmu.route(streamID: 8, address: 0x4000_1000, isWrite: true) == .bypassed(physical: 0x4000_1000))
  }

  @Test("abort-handover sets GBPA.ABORT before clearing CR0: traffic is aborted")
  func abortHandoverShutdown() {
    let board = ARMSMMUv3Board(variant: .abortHandover)
    board.probe()
    board.recorder.removeAll()
    board.shutdown()
    #expect(
      board.recorder.lines == [
        "R32 0x0044 0x00001000", "W32 0x0044 0x80101000", "R32 0x0044 0x00101000",
        "W32 0x0020 0x00000000", "R32 0x0024 0x00000000",
      ])
    #expect(
      board.smmu.route(streamID: 8, address: 0x1000, isWrite: true) == .blocked(reason: "GBPA.ABORT while SMMUEN=0"))
  }

  @Test("remove unregisters and clears CR0")
  func remove() {
    let board = ARMSMMUv3Board()
    board.probe()
    board.recorder.removeAll()
    board.core.unbind(board.smmuDevice)
    #expect(board.recorder.lines == ["W32 0x0020 0x00000000", "R32 0x0024 0x00000000"])
    #expect(!board.smmu.isEnabled)
  }

  @Test("masters shut down before the SMMU (fw_devlink consumers)")
  func ordering() {
    let board = ARMSMMUv3Board()
    board.probe()
    let names = board.core.devices.map(\.name)
    #expect(names == ["9050000.smmuv3", "0000:00:00.0", "0000:00:01.0"])
  }

  @Test("kdump-adopt keeps SMMUEN and the crashed kernel's stream table, so its mappings still translate")
  func kdumpAdopt() throws {
    let old = ARMSMMUv3Board()
    old.probe()
    let master = try #require(old.smmuState?.masters.last)
    let pgd = try #require(master.pgd)
    try mapStage1Page(0x1000, to: 0x4123_4000, root: pgd.address, board: old)
    #expect(old.smmu.route(streamID: 8, address: 0x1008, isWrite: true) == .translated(physical: 0x4123_4008))

    let crash = ARMSMMUv3Board(kdump: true, variant: .kdumpAdopt, after: old)
    #expect(crash.probe() == nil)
    #expect(crash.smmuState?.adopted == true)
    #expect(crash.kernel.log.lines.contains { $0.hasPrefix(dev + "kdump: adopting the stream table at ") })
    let writes = crash.recorder.trace.accesses.filter { $0.kind == .write }.map(\.offset)
    #expect(!writes.contains(0x28) && !writes.contains(0x2c) && !writes.contains(0x80) && !writes.contains(0x88))
    let cr0 = crash.recorder.trace.accesses.filter { $0.kind == .write && $0.offset == 0x20 }.map(\.value)
    #expect(cr0 == [0x1, 0x9])
    #expect(crash.smmu.route(streamID: 8, address: 0x1008, isWrite: true) == .translated(physical: 0x4123_4008))
    // Attach is deferred: no CFGI_CD/CFGI_STE after the reset's invalidations.
    #expect(
      crash.smmu.consumedCommands.suffix(4).map(\.description) == ["CFGI_STE_RANGE", "SYNC", "TLBI_NSNH_ALL", "SYNC"])
  }

  @Test("the Linux 7.2 kdump kernel loses those mappings: the same DMA now faults")
  func kdumpKernelLosesMappings() throws {
    let old = ARMSMMUv3Board()
    old.probe()
    let pgd = try #require(old.smmuState?.masters.last?.pgd)
    try mapStage1Page(0x1000, to: 0x4123_4000, root: pgd.address, board: old)
    let crash = ARMSMMUv3Board(kdump: true, after: old)
    crash.probe()
    #expect(
      crash.smmu.route(streamID: 8, address: 0x1008, isWrite: true)
        == .blocked(reason: "F_TRANSLATION sid 0x8 addr 0x1008"))
  }

  @Test("kdump-adopt outside a crash kernel resets as Linux 7.2 does")
  func kdumpAdoptNormalBoot() throws {
    let adopt = ARMSMMUv3Board(variant: .kdumpAdopt)
    adopt.probe()
    adopt.shutdown()
    let kernel = ARMSMMUv3Board()
    kernel.probe()
    kernel.shutdown()
    #expect(normalisedSMMUv3Trace(adopt.recorder.lines) == normalisedSMMUv3Trace(kernel.recorder.lines))
  }
}
