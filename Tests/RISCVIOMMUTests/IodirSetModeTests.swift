import IOMMUModelTesting
import Testing

/// The trace after both queues are on (the last IPSR write of riscv_iommu_init's queue enables).
func afterQueuesEnabled(_ lines: [String]) -> [String] {
  guard let i = lines.lastIndex(of: "W32 0x0054 0x00000002") else { return [] }
  return Array(lines[(i + 1)...])
}

/// The invalidations and fence iodir_set_mode sends, with the wait on CQH and CQCSR.
let invalidateAndFence = [
  "W32 0x0024 0x00000001", "W32 0x0024 0x00000002", "W32 0x0024 0x00000003", "R32 0x0020 0x00000003",
  "R32 0x0048 0x00010003",
]

@Suite("riscv_iommu_iodir_set_mode: step-down over DDT levels and its refusals")
struct IodirSetModeTests {
  static func config(_ modes: Set<RISCVIOMMUDDTMode>) -> RISCVIOMMUConfiguration {
    var c = RISCVIOMMUConfiguration.qemuPCI
    c.supportedModes = modes
    return c
  }

  @Test("QEMU accepts 3LVL at once: one write, one read-back, invalidations and fence")
  func threeLevelAccepted() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let iommu = try #require(bed.iommu)
    let ddtp = 0x4 | (iommu.ddtPhys >> 2)
    let lines = afterQueuesEnabled(bed.trace.lines)
    #expect(
      Array(lines.prefix(8)) == [ddtpRead(0), "W64 0x0010 \(hex(ddtp, digits: 16))", ddtpRead(ddtp)]
        + invalidateAndFence)
    #expect(iommu.ddtMode == .threeLevel)
  }

  @Test("hardware without 3LVL keeps OFF, so the kernel steps down to 2LVL")
  func stepDownToTwoLevels() throws {
    let bed = RISCVIOMMUTestbed(configuration: Self.config([.off, .bare, .oneLevel, .twoLevel]))
    bed.boot()
    let iommu = try #require(bed.iommu)
    #expect(bed.probeResult == nil)
    let ppn = iommu.ddtPhys >> 2
    let lines = afterQueuesEnabled(bed.trace.lines)
    #expect(
      Array(lines.prefix(10)) == [
        ddtpRead(0), "W64 0x0010 \(hex(0x4 | ppn, digits: 16))", ddtpRead(0),
        "W64 0x0010 \(hex(0x3 | ppn, digits: 16))", ddtpRead(0x3 | ppn),
      ] + invalidateAndFence)
    #expect(iommu.ddtMode == .twoLevel)
    #expect(bed.hardware.ddtMode == .twoLevel)
  }

  @Test("hardware with only 1LVL is reached after two step-downs")
  func stepDownToOneLevel() throws {
    let bed = RISCVIOMMUTestbed(configuration: Self.config([.off, .bare, .oneLevel]))
    bed.boot()
    let iommu = try #require(bed.iommu)
    let ppn = iommu.ddtPhys >> 2
    let lines = afterQueuesEnabled(bed.trace.lines)
    #expect(
      Array(lines.prefix(7)) == [
        ddtpRead(0), "W64 0x0010 \(hex(0x4 | ppn, digits: 16))", ddtpRead(0),
        "W64 0x0010 \(hex(0x3 | ppn, digits: 16))", ddtpRead(0),
        "W64 0x0010 \(hex(0x2 | ppn, digits: 16))", ddtpRead(0x2 | ppn),
      ])
    #expect(iommu.ddtMode == .oneLevel)
  }

  @Test("hardware with no directory mode at all fails the probe: DDTP hw mode 0, failed to set 4")
  func noLevelSupported() {
    let bed = RISCVIOMMUTestbed(configuration: Self.config([.off, .bare]))
    bed.boot()
    #expect(bed.probeResult == .EINVAL)
    #expect(bed.log.contains("iommu_pci 0000:00:01.0: DDTP hw mode 0, failed to set 4"))
    // The error path disables the fault queue, then the command queue.
    #expect(
      Array(bed.trace.lines.suffix(4)) == [
        "W32 0x004c 0x00000000", "R32 0x004c 0x00000000", "W32 0x0048 0x00000000", "R32 0x0048 0x00000000",
      ])
  }

  @Test("switching from one translating mode to another is refused with -EINVAL before any write")
  func levelToLevel() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let iommu = try #require(bed.iommu)
    bed.trace.removeAll()
    #expect(throws: Errno.EINVAL) { try iommu.iodirSetMode(.twoLevel) }
    #expect(bed.trace.lines == [ddtpRead(0x4 | (iommu.ddtPhys >> 2))])
  }

  @Test("a mandatory mode the hardware does not take: DDTP update failed hw, -EINVAL")
  func mandatoryModeRefused() throws {
    var c = Self.config([.bare, .oneLevel, .twoLevel, .threeLevel])
    c.resetMode = .bare
    let bed = RISCVIOMMUTestbed(configuration: c)
    bed.boot()
    let iommu = try #require(bed.iommu)
    try iommu.iodirSetMode(.bare)  // 3LVL -> BARE is accepted
    bed.trace.removeAll()
    #expect(throws: Errno.EINVAL) { try iommu.iodirSetMode(.off) }
    #expect(bed.trace.lines == [ddtpRead(1), "W64 0x0010 0x0000000000000000", ddtpRead(1)])
    #expect(bed.log.last == "iommu_pci 0000:00:01.0: DDTP update failed hw: 1 vs 0")
  }

  @Test("BUSY that never clears: the DDTP poll times out after 10 s of simulated time")
  func busyNeverClears() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let iommu = try #require(bed.iommu)
    bed.hardware.faultInjection.ddtpBusyStuck = true
    bed.trace.removeAll()
    let start = bed.kernel.clock.microseconds
    let polled = try iommu.readDDTP()
    #expect(polled.error == .ETIMEDOUT)
    #expect(polled.value & 0x10 != 0)
    #expect(bed.kernel.clock.microseconds - start >= 10_000_000)
    // One read every 10 µs for 10 s (1,000,001), then the turn that began past the deadline
    // (poll_timeout_us(), Linux 7.2).
    #expect(polled.reads == 1_000_002)
    #expect(bed.trace.count == polled.reads)
    #expect(Set(bed.trace.accesses).count == 1)
  }

  @Test("a DDTP write that leaves BUSY set: timeout when setting ddtp, -EBUSY")
  func busyAfterWrite() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let iommu = try #require(bed.iommu)
    bed.hardware.registers.onWrite(at: 0x10) { _, _ in bed.hardware.faultInjection.ddtpBusyStuck = true }
    bed.trace.isEnabled = false  // a million identical reads of DDTP: covered by the test above
    #expect(throws: Errno.EBUSY) { try iommu.iodirSetMode(.bare) }
    #expect(bed.log.last == "iommu_pci 0000:00:01.0: timeout when setting ddtp (ddt mode: 1, read: 11)")
  }

  @Test("remove switches the directory OFF with invalidations, then stops both queues")
  func remove() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    bed.trace.removeAll()
    bed.core.unbind(bed.device)
    let lines = bed.trace.lines
    #expect(lines.contains("W64 0x0010 0x0000000000000000"))
    #expect(
      Array(lines.suffix(4)) == [
        "W32 0x0048 0x00000000", "R32 0x0048 0x00000000", "W32 0x004c 0x00000000", "R32 0x004c 0x00000000",
      ])
    #expect(bed.hardware.ddtMode == .off)
  }
}
