import IOMMUModelTesting
import Memory
import SimulatedHardware
import Testing

/// The hardware model alone, driven through its MMIO view as software would.
@Suite("VT-d hardware model (QEMU 10 intel-iommu)")
struct VTdHardwareTests {
  let memory: PhysicalMemory
  let unit: IntelVTd
  let io: RecordingRegisterIO<VTdTracedRegisters>

  init() {
    memory = PhysicalMemory()
    memory.addRAM(base: 0, size: 0x100_0000)
    unit = IntelVTd(configuration: .qemuIntremap, memory: memory)
    io = RecordingRegisterIO(unit.mmio)
  }

  @Test("reset values: VER 1.0, QEMU's CAP/ECAP, FECTL and IECTL masked, GSTS clear")
  func resetValues() throws {
    #expect(try io.readl(0x00) == 0x10)
    #expect(try io.readq(0x08) == 0x00d2_008c_222f_0606)
    #expect(try io.readq(0x10) == 0xf0_0f4a)
    #expect(try io.readl(0x38) == 0x8000_0000)
    #expect(try io.readl(0xa0) == 0x8000_0000)
    #expect(try io.readl(0x1c) == 0)
    #expect(VTdConfiguration.qemuDefault.ecap == 0xf42)
    #expect(VTdConfiguration(addressWidth: 39, cachingMode: true).cap == 0x00d2_008c_2226_0286)
  }

  @Test("GCMD is write-only; TE is acknowledged in GSTS within the write, and cleared the same way")
  func translationHandshake() throws {
    try io.writel(0x8000_0000, 0x18)
    #expect(try io.readl(0x18) == 0)
    #expect(try io.readl(0x1c) == 0x8000_0000)
    try io.writel(0, 0x18)
    #expect(try io.readl(0x1c) == 0)
    #expect(unit.events.contains("vtd_reg_write_gcmd status 0x80000000 value 0x0"))
  }

  @Test("SRTP is level-triggered: RTPS stays set and each write with SRTP latches RTADDR again")
  func rootTablePointer() throws {
    try io.writeq(0x10_0000 | 1 << 10, 0x20)
    try io.writel(0x4000_0000, 0x18)
    #expect(try io.readl(0x1c) == 0x4000_0000)
    #expect(unit.rootTable == (0x10_0000, true))
    try io.writel(0, 0x18)
    #expect(unit.events.last == "vtd_reg_write_gcmd status 0x40000000 value 0x0")
    #expect(try io.readl(0x1c) == 0x4000_0000)
  }

  @Test("a status bit that never follows its command: GSTS keeps its value")
  func stuckStatus() throws {
    unit.stuckStatus = 0x8000_0000
    try io.writel(0x8000_0000, 0x18)
    #expect(try io.readl(0x1c) == 0)
  }

  @Test("queued invalidation: IEC and wait descriptors are consumed, the wait writes its status")
  func invalidationQueue() throws {
    try memory.write64(0x4, at: 0x20_0000)
    try memory.write64(2 << 32 | 1 << 5 | 5, at: 0x20_0010)
    try memory.write64(0x30_0004, at: 0x20_0018)
    try io.writel(0, 0x88)
    try io.writeq(0x20_0000, 0x90)
    try io.writel(0x0400_0000, 0x18)
    try io.writel(0x20, 0x88)
    #expect(
      Array(unit.events.suffix(4)) == [
        "vtd_inv_desc invalidate desc type iec high 0x0 low 0x4",
        "vtd_inv_desc_iec granularity 0x0 index 0x0 mask 0x0",
        "vtd_inv_desc invalidate desc type wait high 0x300004 low 0x200000025",
        "vtd_inv_desc_wait_sw wait invalidate status write addr 0x300004 data 0x2",
      ])
    #expect(try memory.read32(0x30_0004) == 2)
    #expect(try io.readq(0x80) == 0x20)
    // Drained, last descriptor a wait: QIE can be turned off.
    try io.writel(0, 0x18)
    #expect(try io.readl(0x1c) == 0)
    #expect(try io.readq(0x80) == 0)
  }

  @Test("a bad descriptor sets FSTS.IQE and stops the queue at it; QIE cannot be turned off")
  func invalidationQueueError() throws {
    try memory.write64(0xf, at: 0x20_0000)
    try io.writeq(0x20_0000, 0x90)
    try io.writel(0x0400_0000, 0x18)
    try io.writel(0x10, 0x88)
    #expect(try io.readl(0x34) == 0x10)
    #expect(try io.readq(0x80) == 0)
    try io.writel(0, 0x18)
    #expect(try io.readl(0x1c) == 0x0400_0000)
  }

  @Test("register-based context-cache invalidation completes at once, and is ignored with QI on")
  func registerInvalidation() throws {
    try io.writeq(1 << 63 | 1 << 61, 0x28)
    #expect(try io.readq(0x28) == 1 << 61 | 1 << 59)
    try io.writeq(1 << 63 | 1 << 60 | 1 << 49 | 1 << 48, 0xf8)
    #expect(try io.readq(0xf8) == 1 << 60 | 1 << 57 | 1 << 49 | 1 << 48)
    try io.writeq(0x20_0000, 0x90)
    try io.writel(0x0400_0000, 0x18)
    try io.writeq(1 << 63 | 1 << 61, 0x28)
    // ICC stays set (CAIG keeps the last completion's value).
    #expect(try io.readq(0x28) == 1 << 63 | 1 << 61 | 1 << 59)
  }

  @Test("DMA: TE=0 bypasses; TE=1 walks root, context and a 4-level table; faults are recorded")
  func remapping() throws {
    #expect(unit.route(streamID: 0x10, address: 0x1234, isWrite: true) == .bypassed(physical: 0x1234))
    // Root table at 1 MiB, bus 0 context table at 1 MiB + 4 KiB, page tables after it.
    try memory.write64(0x10_1000 | 1, at: 0x10_0000)
    try memory.write64(0x10_2000 | 1, at: 0x10_1000 + 0x10 * 16)
    try memory.write64(2 | 5 << 8, at: 0x10_1000 + 0x10 * 16 + 8)
    try memory.write64(0x10_3000 | 3, at: 0x10_2000)
    try memory.write64(0x10_4000 | 3, at: 0x10_3000)
    try memory.write64(0x10_5000 | 3, at: 0x10_4000)
    try memory.write64(0x80_0000 | 1, at: 0x10_5000 + 8)
    try io.writeq(0x10_0000, 0x20)
    try io.writel(0x4000_0000, 0x18)
    try io.writel(0x8000_0000, 0x18)
    #expect(unit.route(streamID: 0x10, address: 0x1234, isWrite: false) == .translated(physical: 0x80_0234))
    #expect(unit.route(streamID: 0x10, address: 0x1234, isWrite: true) == .blocked(reason: "DMAR fault reason 0x05"))
    #expect(try io.readl(0x34) == 0x2)
    #expect(try io.readq(0x228) == 1 << 63 | 5 << 32 | 0x10)
    #expect(try io.readq(0x220) == 0x1000)
    // The record still holds F: the next fault overflows.
    #expect(unit.route(streamID: 0x18, address: 0, isWrite: false) == .blocked(reason: "DMAR fault reason 0x02"))
    #expect(try io.readl(0x34) == 0x3)
    #expect(unit.faultLog.map(\.recorded) == [true, false])
  }

  @Test("DMA: pass-through context (TT=2), root entry absent, FPD suppressing the record, beyond the width")
  func remappingCases() throws {
    try memory.write64(0x10_1000 | 1, at: 0x10_0000)  // bus 0 only
    try memory.write64(2 << 2 | 1, at: 0x10_1000 + 0x08 * 16)  // 00:01.0 pass-through
    try memory.write64(2 | 1 << 1 | 0, at: 0x10_1000 + 0x18 * 16)  // 00:03.0 not present, FPD
    try memory.write64(0x10_2000 | 1, at: 0x10_1000 + 0x20 * 16)  // 00:04.0 3-level (AW=1)
    try memory.write64(1 | 7 << 8, at: 0x10_1000 + 0x20 * 16 + 8)
    try io.writeq(0x10_0000, 0x20)
    try io.writel(0xc000_0000, 0x18)
    #expect(unit.route(streamID: 0x08, address: 0xabc000, isWrite: true) == .bypassed(physical: 0xabc000))
    #expect(unit.route(streamID: 0x18, address: 0, isWrite: true) == .blocked(reason: "DMAR fault reason 0x02"))
    #expect(try io.readl(0x34) == 0)  // suppressed by FPD
    #expect(unit.route(streamID: 0x20, address: 1 << 39, isWrite: false) == .blocked(reason: "DMAR fault reason 0x04"))
    #expect(try io.readq(0x228) == 1 << 63 | 1 << 62 | 4 << 32 | 0x20)
    try io.writel(0x8000_0000, 0x22c)  // software clears the record: PPF drops
    #expect(try io.readl(0x34) == 0)
    #expect(unit.route(streamID: 0x100, address: 0, isWrite: false) == .blocked(reason: "DMAR fault reason 0x01"))
    #expect(unit.faultLog.map(\.reason) == [.contextEntryNotPresent, .addressBeyondWidth, .rootEntryNotPresent])
    #expect(unit.faultLog.map(\.recorded) == [false, true, true])
  }
}
