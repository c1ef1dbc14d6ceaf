import IOMMUModelTesting
import Testing

@Suite("Interrupts: the fault and command queue handlers run when the hardware signals")
struct InterruptTests {
  @Test("a DMA fault is written to the fault queue, signalled on FIV and reported by fltq_process")
  func faultReported() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    bed.trace.removeAll()
    _ = bed.hardware.route(streamID: 3, address: 0x9000, isWrite: false)
    #expect(bed.log.last == "iommu_pci 0000:00:01.0: Fault 258 devid: 0x3 iotval: 9000 iotval2: 0")
    #expect(
      bed.trace.lines == [
        "R32 0x0054 0x00000002",  // riscv_iommu_queue_ipsr: FIP pending
        "W32 0x0054 0x00000002",  // clear it
        "R32 0x0034 0x00000001",  // consume: FQT
        "W32 0x0030 0x00000001",  // release: FQH
        "R32 0x0034 0x00000001",  // consume again: nothing new
        "W32 0x0030 0x00000001",
        "R32 0x004c 0x00010003",  // no memory fault, no overflow
      ])
    #expect(try bed.hardware.registers.readl(0x54) == 0)
  }

  @Test("a second fault while the first is pending raises no second interrupt")
  func pendingEdge() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    bed.hardware.interruptSink = nil  // the interrupt is lost: FIP stays pending
    _ = bed.hardware.route(streamID: 3, address: 0x9000, isWrite: false)
    #expect(try bed.hardware.registers.readl(0x54) == 2)
    #expect(bed.hardware.faults.count == 1)
    #expect(!bed.log.contains { $0.contains("Fault 258") })
  }

  @Test("an illegal command stops the queue and cmdq_process reports it")
  func illegalCommand() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let iommu = try #require(bed.iommu)
    // A command with an unknown opcode at the next slot, doorbell rung by hand.
    try bed.memory.write64(0x7f, at: iommu.cmdq.phys + 6 * 16)
    try bed.memory.write64(0, at: iommu.cmdq.phys + 6 * 16 + 8)
    bed.trace.removeAll()
    try bed.hardware.registers.writel(7, 0x24)
    #expect(bed.log.last == "iommu_pci 0000:00:01.0: Queue #0 error; fault:0 timeout:0 illegal:1 fence_w_ip:0")
    #expect(
      bed.trace.lines == [
        "R32 0x0054 0x00000001", "R32 0x0048 0x00010403", "W32 0x0048 0x00010403", "W32 0x0054 0x00000001",
      ])
    #expect(try bed.hardware.registers.readl(0x20) == 6)  // CQH stays at the illegal command
    #expect(try bed.hardware.registers.readl(0x48) == 0x1_0003)
  }
}
