import IOMMUModelTesting
import Testing

private let dev = "arm-smmu-v3 9050000.smmuv3: "

private func isBlocked(_ route: DMARoute) -> Bool {
  if case .blocked = route { return true }
  return false
}

/// An old kernel under the kernel-list variant, with virtio-net (stream 8) translating IOVA
/// 0x1000 to 0x41234000.
private func oldKernel() throws -> ARMSMMUv3Board {
  let old = ARMSMMUv3Board(variant: .kernelList)
  #expect(old.probe() == nil)
  let pgd = try #require(old.smmuState?.masters.last?.pgd)
  try mapStage1Page(0x1000, to: 0x4123_4000, root: pgd.address, board: old)
  #expect(old.smmu.route(streamID: 8, address: 0x1008, isWrite: true) == .translated(physical: 0x4123_4008))
  return old
}

@Suite("kernel-list: SMMUEN kept at shutdown, one CR0 write to abort everything in the next kernel")
struct KernelListTests {
  @Test("on an SMMU nobody enabled, kernel-list probes and registers exactly as Linux 7.2")
  func freshProbeIsTheKernels() {
    let list = ARMSMMUv3Board(variant: .kernelList)
    list.probe()
    let kernel = ARMSMMUv3Board()
    kernel.probe()
    #expect(list.recorder.lines == kernel.recorder.lines)
  }

  @Test("shutdown leaves CR0 alone and gives every master the blocked domain's abort STE")
  func shutdownBlocksMasters() throws {
    let old = try oldKernel()
    old.recorder.removeAll()
    old.kernel.log.removeAll()
    old.shutdown()
    #expect(
      old.kernel.log.lines == [dev + "kernel-list: blocking every master, leaving translation on for the next kernel"])
    #expect(
      !old.recorder.trace.accesses.contains { $0.kind == .write && [0x20, 0x44, 0x80, 0x88].contains($0.offset) })
    // Per stream: V cleared (CFGI_STE, SYNC), the rest (none changed), V with CFG=ABORT (CFGI_STE,
    // SYNC), then PREFETCH_CONFIG.
    let commands = old.recorder.lines.filter { $0.hasPrefix("CMD ") }
    #expect(
      commands
        == Array(repeating: ["CMD CFGI_STE", "CMD SYNC", "CMD CFGI_STE", "CMD SYNC", "CMD PREFETCH_CONFIG"], count: 2)
        .flatMap { $0 })
    #expect(old.smmu.isEnabled)
    #expect(old.smmu.route(streamID: 8, address: 0x1008, isWrite: true) == .blocked(reason: "abort STE for stream 0x8"))
  }

  @Test(
    "a crash kernel finding SMMUEN set: GBPA.ABORT, then the CR0 write that aborts everything, then a fresh all-abort table in its own memory"
  )
  func crashKernelSwitch() throws {
    let old = try oldKernel()
    let oldTable = old.smmu.registers.peek(.qword, at: 0x80) & 0x000f_ffff_ffff_ffc0
    let crash = ARMSMMUv3Board(kdump: true, variant: .kernelList, after: old)
    #expect(crash.probe() == nil)
    #expect(
      crash.kernel.log.lines.contains(
        dev + "kernel-list: SMMU left enabled by the previous kernel, aborting every stream"))
    #expect(!crash.kernel.log.lines.contains(dev + "SMMU currently enabled! Resetting..."))
    let lines = crash.recorder.lines
    #expect(
      Array(lines[5..<12]) == [
        "R32 0x0020 0x0000000d", "R32 0x0044 0x00001000", "W32 0x0044 0x80101000",
        "R32 0x0044 0x00101000", "W32 0x0020 0x00000000", "R32 0x0024 0x00000000",
        "W32 0x0028 0x00000d75",
      ])
    // The new stream table lies in the crash kernel's pool (the lower half of RAM here).
    let newTable = crash.smmu.registers.peek(.qword, at: 0x80) & 0x000f_ffff_ffff_ffc0
    #expect(newTable != oldTable)
    #expect(newTable >= ARMSMMUv3Board.ramBase && newTable < ARMSMMUv3Board.ramBase + ARMSMMUv3Board.ramSize / 2)
    // EVTQ and PRIQ stay off in a crash kernel; SMMUEN is on again.
    #expect(crash.smmu.appliedCR0 == 0x9)
    // A stream no driver has attached yet aborts; the old mapping of stream 8 is gone.
    #expect(
      crash.smmu.route(streamID: 0x10, address: 0x1008, isWrite: true) == .blocked(reason: "abort STE for stream 0x10"))
    #expect(isBlocked(crash.smmu.route(streamID: 8, address: 0x1008, isWrite: true)))
  }

  @Test("from the CR0 write on, a transaction of the old kernel's master is terminated, never translated or bypassed")
  func abortsFromTheSwitch() throws {
    let old = try oldKernel()
    let crash = ARMSMMUv3Board(kdump: true, variant: .kernelList, after: old)
    var routes: [(cr0: UInt64, route: DMARoute)] = []
    crash.smmu.registers.onRead(at: 0x24) { regs, _ in
      routes.append((regs.peek(.dword, at: 0x24), crash.smmu.route(streamID: 8, address: 0x1008, isWrite: true)))
    }
    #expect(crash.probe() == nil)
    // CR0ACK reads: 0 (the switch), CMDQEN, CMDQEN|EVTQEN, then SMMUEN|CMDQEN (a crash kernel
    // drops EVTQEN again).
    #expect(routes.map(\.cr0) == [0x0, 0x8, 0xc, 0x9])
    for r in routes.prefix(3) { #expect(r.route == .blocked(reason: "GBPA.ABORT while SMMUEN=0")) }
    #expect(isBlocked(routes[3].route))
  }

  @Test("a GBPA that never acknowledges: the probe fails with -ETIMEDOUT and SMMUEN stays set rather than bypass")
  func gbpaStuckKeepsTranslation() throws {
    let old = try oldKernel()
    old.smmu.configuration.faults = [.gbpaUpdateStuck]
    let crash = ARMSMMUv3Board(kdump: true, variant: .kernelList, after: old)
    #expect(crash.probe() == .ETIMEDOUT)
    #expect(
      crash.kernel.log.lines.suffix(3) == [
        dev + "GBPA not responding to update",
        dev + "kernel-list: GBPA.ABORT not applied, leaving the SMMU enabled",
        dev + "probe with driver arm-smmu-v3 failed with error -110",
      ])
    #expect(!crash.recorder.trace.accesses.contains { $0.kind == .write && $0.offset == 0x20 })
    #expect(crash.smmu.isEnabled)
    #expect(crash.smmu.route(streamID: 8, address: 0x1008, isWrite: true) == .translated(physical: 0x4123_4008))
  }

  @Test("across kexec: the next kernel finds SMMUEN set with the masters blocked and switches the same way")
  func kexecSwitch() throws {
    let old = try oldKernel()
    old.kernel.context.kexecInProgress = true
    old.shutdown()
    let next = ARMSMMUv3Board(variant: .kernelList, after: old)
    #expect(next.probe() == nil)
    #expect(
      Array(next.recorder.lines[5..<11]) == [
        "R32 0x0020 0x0000000d", "R32 0x0044 0x00001000", "W32 0x0044 0x80101000",
        "R32 0x0044 0x00101000", "W32 0x0020 0x00000000", "R32 0x0024 0x00000000",
      ])
    // Not a crash kernel: EVTQ back on.
    #expect(next.smmu.appliedCR0 == 0xd)
    #expect(
      next.smmu.route(streamID: 0x10, address: 0x1008, isWrite: true) == .blocked(reason: "abort STE for stream 0x10"))
  }
}
