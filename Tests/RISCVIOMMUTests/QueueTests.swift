import IOMMUModelTesting
import Testing

@Suite("riscv_iommu_queue_alloc / queue_enable: WARL bases and queues that do not start")
struct QueueTests {
  @Test("a command queue that never turns on: queue #0 failed to start, CSR cleared, -EBUSY")
  func neverTurnsOn() {
    var faults = RISCVIOMMUFaultInjection()
    faults.queueNeverTurnsOn = [.command]
    let bed = RISCVIOMMUTestbed(faultInjection: faults)
    bed.boot()
    #expect(bed.probeResult == .EBUSY)
    #expect(
      bed.log.suffix(2) == [
        "iommu_pci 0000:00:01.0: queue #0 failed to start",
        "iommu_pci 0000:00:01.0: probe with driver iommu_pci failed with error -16",
      ])
    #expect(
      Array(bed.trace.lines.suffix(4)) == [
        "W32 0x0024 0x00000000", "W32 0x0048 0x00000103", "R32 0x0048 0x00000003", "W32 0x0048 0x00000000",
      ])
  }

  @Test("a fault queue whose BUSY never clears: polled for 150 ms of simulated time, then refused")
  func busyNeverClears() {
    var faults = RISCVIOMMUFaultInjection()
    faults.queueBusyStuck = [.fault]
    let bed = RISCVIOMMUTestbed(faultInjection: faults)
    bed.boot()
    #expect(bed.probeResult == .EBUSY)
    #expect(bed.log.contains("iommu_pci 0000:00:01.0: queue #1 failed to start"))
    #expect(bed.kernel.clock.microseconds >= 150_000)
    let reads = bed.trace.lines.filter { $0 == "R32 0x004c 0x00020003" }
    #expect(reads.count > 15_000)
    // The error path then stops the command queue that did start.
    #expect(Array(bed.trace.lines.suffix(2)) == ["W32 0x0048 0x00000000", "R32 0x0048 0x00000000"])
  }

  @Test("a queue base whose LOG2SZ the hardware caps gives a shorter queue")
  func cappedLength() throws {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.maxQueueLog2Size = 5
    let bed = RISCVIOMMUTestbed(configuration: config)
    bed.boot()
    let iommu = try #require(bed.iommu)
    #expect(iommu.cmdq.mask == 63)
    #expect(Array(bed.trace.lines[8...9]) == ["W64 0x0018 0x000000000000001f", "R64 0x0018 0x0000000000000005"])
  }
}
