import IOMMUModelTesting
import Testing

private let dev = "arm-smmu-v3 9050000.smmuv3: "

@Suite("arm_smmu_device_reset: enabled SMMUs, stuck handshakes, kdump")
struct DeviceResetTests {
  @Test("an SMMU found enabled is aborted through GBPA, then disabled and reset")
  func foundEnabled() {
    let board = ARMSMMUv3Board()
    board.smmu.registers.poke(0xd, .dword, at: SMMUv3Offset.CR0)
    board.smmu.registers.poke(0xd, .dword, at: SMMUv3Offset.CR0ACK)
    #expect(board.probe() == nil)
    #expect(board.kernel.log.lines.contains(dev + "SMMU currently enabled! Resetting..."))
    let lines = board.recorder.lines
    let reset = Array(lines[5..<12])
    #expect(
      reset == [
        "R32 0x0020 0x0000000d", "R32 0x0044 0x00001000", "W32 0x0044 0x80101000",
        "R32 0x0044 0x00101000", "W32 0x0020 0x00000000", "R32 0x0024 0x00000000",
        "W32 0x0028 0x00000d75",
      ])
    // GBPA.ABORT stays: after shutdown, traffic is aborted rather than bypassed.
    board.shutdown()
    #expect(
      board.smmu.route(streamID: 8, address: 0x1000, isWrite: true) == .blocked(reason: "GBPA.ABORT while SMMUEN=0"))
  }

  @Test("CR0ACK never following fails the command queue enable with -ETIMEDOUT after 1 s")
  func cr0AckStuck() {
    var configuration = SMMUv3Configuration.qemu10
    configuration.faults = [.cr0AckStuck]
    let board = ARMSMMUv3Board(configuration: configuration)
    let start = board.kernel.clock.microseconds
    #expect(board.probe() == .ETIMEDOUT)
    // CR0ACK stays 0, so clearing CR0 "succeeds"; enabling CMDQEN never does.
    #expect(
      board.kernel.log.lines.suffix(2) == [
        dev + "failed to enable command queue",
        "arm-smmu-v3 9050000.smmuv3: probe with driver arm-smmu-v3 failed with error -110",
      ])
    // (Formatting only the accesses looked at: the poll made about a million.)
    let accesses = board.recorder.trace.accesses
    #expect(
      accesses[15..<18].map(\.description) == [
        "W32 0x0020 0x00000008", "R32 0x0024 0x00000000", "R32 0x0024 0x00000000",
      ])
    #expect(accesses.count > 1_000_000)
    // The error path's arm_smmu_device_disable(): CR0 := 0, acknowledged at once by the stale 0.
    #expect(accesses.suffix(2).map(\.description) == ["W32 0x0020 0x00000000", "R32 0x0024 0x00000000"])
    let elapsed = board.kernel.clock.microseconds - start
    #expect(elapsed >= 1_000_000 && elapsed < 1_100_000)
    #expect(board.smmuDevice.state == .probeFailed(.ETIMEDOUT))
  }

  @Test("an enabled SMMU whose CR0ACK never follows: 'failed to clear cr0' in the reset and again on the error path")
  func cr0AckStuckWhileEnabled() {
    var configuration = SMMUv3Configuration.qemu10
    configuration.faults = [.cr0AckStuck]
    let board = ARMSMMUv3Board(configuration: configuration)
    board.smmu.registers.poke(0xd, .dword, at: SMMUv3Offset.CR0)
    board.smmu.registers.poke(0xd, .dword, at: SMMUv3Offset.CR0ACK)
    board.recorder.trace.isEnabled = false
    let start = board.kernel.clock.microseconds
    #expect(board.probe() == .ETIMEDOUT)
    #expect(
      board.kernel.log.lines.suffix(4) == [
        dev + "SMMU currently enabled! Resetting...", dev + "failed to clear cr0",
        dev + "failed to clear cr0",
        "arm-smmu-v3 9050000.smmuv3: probe with driver arm-smmu-v3 failed with error -110",
      ])
    let elapsed = board.kernel.clock.microseconds - start
    #expect(elapsed >= 2_000_000 && elapsed < 2_100_000)
    // SMMUEN was never really cleared.
    #expect(board.smmu.isEnabled)
  }

  @Test("a GBPA update that never completes is logged and the reset goes on")
  func gbpaStuck() {
    var configuration = SMMUv3Configuration.qemu10
    configuration.faults = [.gbpaUpdateStuck]
    let board = ARMSMMUv3Board(configuration: configuration)
    board.smmu.registers.poke(0x1, .dword, at: SMMUv3Offset.CR0)
    board.smmu.registers.poke(0x1, .dword, at: SMMUv3Offset.CR0ACK)
    board.recorder.trace.isEnabled = false
    #expect(board.probe() == nil)
    #expect(
      Array(board.kernel.log.lines.prefix(3)) == [
        dev + "oas 44-bit (features 0x01088705)", dev + "allocated 65536 entries for cmdq",
        dev + "allocated 32768 entries for evtq",
      ])
    #expect(
      board.kernel.log.lines.dropFirst(3).prefix(2) == [
        dev + "SMMU currently enabled! Resetting...", dev + "GBPA not responding to update",
      ])
    // The update never applied: GBPA still says bypass, with UPDATE pending.
    #expect(board.smmu.registers.peek(.dword, at: SMMUv3Offset.GBPA) == 0x8000_1000)
    #expect(board.smmu.isEnabled)
  }

  @Test("a kdump kernel enables SMMUEN with the event and PRI queues left off")
  func kdumpLeavesEventQueueOff() {
    let normal = ARMSMMUv3Board()
    normal.probe()
    let kdump = ARMSMMUv3Board(kdump: true)
    kdump.probe()
    let cr0Writes = { (b: ARMSMMUv3Board) in
      b.recorder.trace.accesses.filter { $0.kind == .write && $0.offset == 0x20 }.map(\.value)
    }
    #expect(cr0Writes(normal) == [0x0, 0x8, 0xc, 0xd])
    #expect(cr0Writes(kdump) == [0x0, 0x8, 0xc, 0x9])
    #expect(kdump.smmu.appliedCR0 == 0x9)
  }

  @Test("after a crash the kdump kernel aborts in-flight DMA: GBPA.ABORT, fresh tables, no events queued")
  func kdumpAfterCrash() throws {
    let old = ARMSMMUv3Board()
    old.probe()
    // The crashed kernel did not shut the SMMU down: SMMUEN is still set.
    let crash = ARMSMMUv3Board(kdump: true, after: old)
    #expect(crash.probe() == nil)
    #expect(crash.kernel.log.lines.contains(dev + "SMMU currently enabled! Resetting..."))
    #expect(crash.smmu.appliedCR0 == CR0Bits.SMMUEN | CR0Bits.CMDQEN)
    #expect(crash.smmu.registers.peek(.dword, at: SMMUv3Offset.GBPA) & 0x10_0000 != 0)
    // The new DMA domain has no mappings: the device's DMA faults, and no event is queued.
    let route = crash.smmu.route(streamID: 8, address: 0x1000, isWrite: true)
    #expect(route == .blocked(reason: "F_TRANSLATION sid 0x8 addr 0x1000"))
    #expect(crash.smmu.registers.peek(.dword, at: SMMUv3Offset.EVTQ_PROD) == 0)
  }

  @Test("a command queue that is never consumed: CMD_SYNC times out, logged with the queue pointers")
  func commandQueueStuck() {
    var configuration = SMMUv3Configuration.qemu10
    configuration.faults = [.commandQueueStuck]
    let board = ARMSMMUv3Board(configuration: configuration)
    let start = board.kernel.clock.microseconds
    // The reset ignores its commands' errors, so the probe itself succeeds.
    #expect(board.probe() == nil)
    let timeouts = board.kernel.log.lines.filter { $0.contains("CMD_SYNC timeout") }
    #expect(
      timeouts.prefix(2) == [
        dev + "CMD_SYNC timeout at 0x00000001 [hwprod 0x00000002, hwcons 0x00000000]",
        dev + "CMD_SYNC timeout at 0x00000003 [hwprod 0x00000004, hwcons 0x00000000]",
      ])
    // Two reset syncs and the first CD sync of each attach, ARM_SMMU_POLL_TIMEOUT_US each.
    #expect(timeouts.count == 4)
    #expect(board.kernel.clock.microseconds - start >= 4_000_000)
    #expect(board.smmu.consumedCommands.isEmpty)
  }

  @Test("outside kdump the event queue is on: a faulting DMA lands in it as F_TRANSLATION")
  func eventQueued() throws {
    let board = ARMSMMUv3Board()
    board.probe()
    #expect(
      board.smmu.route(streamID: 8, address: 0x2000, isWrite: false)
        == .blocked(reason: "F_TRANSLATION sid 0x8 addr 0x2000"))
    #expect(board.smmu.registers.peek(.dword, at: SMMUv3Offset.EVTQ_PROD) == 1)
    let base = board.smmu.registers.peek(.qword, at: SMMUv3Offset.EVTQ_BASE) & 0x000f_ffff_ffff_ffe0
    #expect(try board.memory.read64(base) == 0x10 | 0x8 << 32)
    #expect(try board.memory.read64(base + 16) == 0x2000)
  }
}
