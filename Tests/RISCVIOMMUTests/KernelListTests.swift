import IOMMUModelTesting
import Testing

@Suite("kernel-list: shutdown leaves DDTP as it is; the next kernel blocks with DDTP := OFF, then a zeroed directory")
struct KernelListTests {
  /// An old kernel under kernel-list (3LVL, queues on) with device 0x10 attached to identity.
  private func oldKernel() throws -> RISCVIOMMUTestbed {
    let old = RISCVIOMMUTestbed(policy: .kernelList)
    old.boot()
    #expect(old.probeResult == nil)
    let nic = Device(
      name: "0000:00:02.0", bus: .pci,
      identity: .pci(PCIIdentity(vendor: 0x8086, device: 0x10d3, classCode: 0x02_0000)),
      iommu: old.device, streamIDs: [0x10])
    try #require(old.iommu).attach(nic, to: .identity)
    #expect(
      old.hardware.route(streamID: 0x10, address: 0x8123_4000, isWrite: true) == .translated(physical: 0x8123_4000))
    return old
  }

  /// The low 10 bits (opcode, function) of the command at `index` of the command queue.
  private func command(_ bed: RISCVIOMMUTestbed, _ index: UInt64) throws -> UInt64 {
    try bed.memory.read64(try #require(bed.iommu).cmdq.phys + index * 16) & 0x3ff
  }

  @Test(
    "kdump: old queues stopped, DDTP := OFF keeping the PPN, new queues, invalidation while OFF, then 3LVL on a zeroed directory: the exact trace"
  )
  func kdumpSwitch() throws {
    let old = try oldKernel()
    #expect(old.hardware.registers.peek(.qword, at: RISCVIOMMUSpec.ddtp) == 0x20e0_0004)
    let crash = old.nextKernel(kdump: true)
    crash.boot()
    #expect(crash.probeResult == nil)
    #expect(
      crash.log == [
        "iommu_pci 0000:00:01.0: translation left on by the previous kernel, all DMA blocked (DDTP OFF)",
        "iommu_pci 0000:00:01.0: queue #0 allocated 2^13 entries",
        "iommu_pci 0000:00:01.0: queue #1 allocated 2^12 entries",
        "pci 0000:00:00.0: Adding to iommu group 0",
      ])
    let fence = ["R32 0x0020 0x00000003", "R32 0x0048 0x00010003"]
    #expect(
      crash.trace.lines == probePreamble + [
        "R64 0x0010 0x0000000020e00004",  // init_check: 3LVL, the old kernel's directory
        "W32 0x0048 0x00000000", "W32 0x004c 0x00000000", "W32 0x0050 0x00000000",  // old queues off
        "W64 0x0010 0x0000000020e00000",  // DDTP := OFF, PPN kept: the atomic step
      ] + icvecLines + [
        // iodir_alloc: OFF, PPN not fixed: a zeroed page of the crash kernel's.
        "R64 0x0010 0x0000000020e00000", "W64 0x0010 0x0000000000000000", "R64 0x0010 0x0000000000000000",
        // The crash kernel's queues, allocated and enabled.
        "W64 0x0018 0x000000000000001f", "R64 0x0018 0x000000000000001f",
        "W64 0x0018 0x000000002160040c", "R64 0x0018 0x000000002160040c",
        "W64 0x0028 0x000000000000001f", "R64 0x0028 0x000000000000001f",
        "W64 0x0028 0x000000002160840b", "R64 0x0028 0x000000002160840b",
        "W32 0x0024 0x00000000", "W32 0x0048 0x00000103", "R32 0x0048 0x00010003", "W32 0x0054 0x00000001",
        "W32 0x0030 0x00000000", "W32 0x004c 0x00000103", "R32 0x004c 0x00010003", "W32 0x0054 0x00000002",
        // While OFF: IODIR.INVAL_DDT, IOTINVAL.VMA, IOFENCE.C, and the wait.
        "W32 0x0024 0x00000001", "W32 0x0024 0x00000002", "W32 0x0024 0x00000003",
      ] + fence + [
        // iodir_set_mode(3LVL): allowed from OFF; then the usual invalidation.
        "R64 0x0010 0x0000000000000000", "W64 0x0010 0x0000000021600004", "R64 0x0010 0x0000000021600004",
        "W32 0x0024 0x00000004", "W32 0x0024 0x00000005", "W32 0x0024 0x00000006",
        "R32 0x0020 0x00000006", "R32 0x0048 0x00010003",
        // The host bridge's identity attach at iommu_device_register().
        "W32 0x0024 0x00000007", "W32 0x0024 0x00000008", "W32 0x0024 0x00000009",
        "R32 0x0020 0x00000009", "R32 0x0048 0x00010003",
      ])
    // IODIR.INVAL_DDT (opcode 3), IOTINVAL.VMA (1), IOFENCE.C (2), twice.
    #expect(try (0..<6).map { try command(crash, $0) } == [3, 1, 2, 3, 1, 2])
    // The old kernel's device is not attached in the new directory: blocked, the fault queued
    // in the crash kernel's fault queue.
    #expect(
      crash.hardware.route(streamID: 0x10, address: 0x8123_4000, isWrite: true)
        == .blocked(reason: "cause 258: device context not valid (TC.V=0)"))
    let fault = try #require(crash.hardware.faults.last)
    #expect(fault.cause == 258 && fault.deviceID == 0x10 && fault.queued)
    #expect(try crash.memory.read64(try #require(crash.iommu).fltq.phys) == 258 | 3 << 34 | 0x10 << 40)
  }

  @Test(
    "between OFF and the new directory, every transaction aborts (cause 256) and nothing is written to the old fault queue"
  )
  func offWindow() throws {
    let old = try oldKernel()
    let oldFaultQueue = try #require(old.iommu).fltq.phys
    let fqt = old.hardware.registers.peek(.dword, at: RISCVIOMMUSpec.fqt)
    let crash = old.nextKernel(kdump: true)
    #expect(crash.checkInit() == nil)
    #expect(crash.hardware.ddtMode == .off)
    #expect(
      crash.hardware.route(streamID: 0x10, address: 0x8123_4000, isWrite: true)
        == .blocked(reason: "cause 256: all inbound transactions disallowed (DDTP OFF)"))
    let fault = try #require(crash.hardware.faults.last)
    #expect(fault.cause == 256 && !fault.queued)
    #expect(crash.hardware.registers.peek(.dword, at: RISCVIOMMUSpec.fqt) == fqt)
    #expect(try crash.memory.isZero(oldFaultQueue + fqt * 32, length: 32))
  }

  @Test(
    "kexec: the old kernel's shutdown writes nothing; the kexec'd kernel takes the translating IOMMU over instead of failing"
  )
  func kexecSwitch() throws {
    let old = try oldKernel()
    let before = old.trace.lines.count
    old.shutdown()
    #expect(old.trace.lines.count == before)
    #expect(old.hardware.ddtMode == .threeLevel)
    let next = old.nextKernel(kdump: false)
    next.boot()
    #expect(next.probeResult == nil)
    #expect(
      next.log.first == "iommu_pci 0000:00:01.0: translation left on by the previous kernel, all DMA blocked (DDTP OFF)"
    )
    #expect(Array(next.trace.lines[2...6]) == ["R64 0x0010 0x0000000020e00004"] + blockHandoverLines(0x20e0_0004))
    #expect(next.hardware.ddtMode == .threeLevel)
    #expect(
      next.hardware.route(streamID: 0x10, address: 0x8123_4000, isWrite: true)
        == .blocked(reason: "cause 258: device context not valid (TC.V=0)"))
    // The `kernel` policy, for contrast, refuses the same state outside kdump.
    let other = try oldKernel()
    let refused = other.nextKernel(kdump: false, policy: .kernel)
    refused.boot()
    #expect(refused.probeResult == .EBUSY)
  }
}
