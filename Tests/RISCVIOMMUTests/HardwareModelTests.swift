import IOMMUModelTesting
import Testing

@Suite("riscv-iommu hardware model: QEMU 10 reset values, handshakes and queues")
struct HardwareModelTests {
  static func machine() -> (PhysicalMemory, RISCVIOMMUHardware) {
    let memory = PhysicalMemory()
    memory.addRAM(base: 0x8000_0000, size: 0x100_0000)
    return (memory, RISCVIOMMUHardware(memory: memory))
  }

  @Test("reset values match QEMU's qtest reg_reset and the PCI identity its pci_config")
  func resetValues() throws {
    let (_, hw) = Self.machine()
    let r = hw.registers
    #expect(try r.readq(0) == 0x78_c2cf_0f10)
    #expect(try r.readl(0x10) == 0)  // DDTP.MODE OFF, BUSY 0, read as 32 bits like the qtest
    #expect(try r.readl(0x48) == 0)
    #expect(try r.readl(0x4c) == 0)
    #expect(try r.readl(0x50) == 0)
    #expect(try r.readl(0x54) == 0)
    let config = RISCVIOMMUPCIFunction.configSpace()
    #expect(try config.read(UInt16.self, at: 0) == 0x1b36)
    #expect(try config.read(UInt16.self, at: 2) == 0x0014)
    #expect(try config.read(UInt32.self, at: 8) >> 8 == 0x08_0600)
    #expect(try config.read(UInt8.self, at: 0x40) == 0x11)  // MSI-X
    #expect(try config.read(UInt16.self, at: 0x42) == 4)  // 5 vectors
    #expect(throws: IOError.self) { try r.read(.word, at: 0x10) }  // 4- and 8-byte accesses only
  }

  @Test("DDTP: xLVL from OFF is accepted, xLVL to another xLVL and reserved modes restore the old value")
  func ddtpLegalisation() throws {
    let (_, hw) = Self.machine()
    let r = hw.registers
    try r.writeq(0x1000_0002_0000_0412, 0x10)  // 1LVL and a PPN, with BUSY and a reserved bit
    #expect(try r.readq(0x10) == 0x2_0000_0402)
    let kept = try r.readq(0x10)
    try r.writeq(0x0000_0003, 0x10)  // 1LVL -> 2LVL directly
    #expect(try r.readq(0x10) == kept)
    try r.writeq(0x5, 0x10)  // reserved mode
    #expect(try r.readq(0x10) == kept)
    try r.writeq(0x10 | 1, 0x10)  // BARE, with BUSY (read-only) in the value
    #expect(try r.readq(0x10) == 1)
  }

  @Test("queue CSR: enable turns the queue on with BUSY already clear, MF is write-1-to-clear")
  func queueEnable() throws {
    let (_, hw) = Self.machine()
    let r = hw.registers
    try r.writel(5, 0x24)  // CQT is read-only while the queue is off
    #expect(try r.readl(0x24) == 0)
    try r.writeq(0x2000_0000 | 0x3, 0x18)  // 16 entries at 0x8000_0000
    hw.registers.poke(0x100, .dword, at: 0x48)  // a stale CQMF
    try r.writel(0x103, 0x48)
    #expect(try r.readl(0x48) == 0x1_0003)
    try r.writel(0, 0x48)
    #expect(try r.readl(0x48) == 0)
  }

  @Test("a queue that never turns on, and one whose BUSY never clears, as injected faults")
  func queueFaults() throws {
    let (_, hw) = Self.machine()
    hw.faultInjection.queueNeverTurnsOn = [.command]
    try hw.registers.writel(0x3, 0x48)
    #expect(try hw.registers.readl(0x48) == 0x3)
    hw.faultInjection.queueBusyStuck = [.fault]
    try hw.registers.writel(0x3, 0x4c)
    #expect(try hw.registers.readl(0x4c) & 0x2_0000 != 0)
  }

  @Test("commands: IOFENCE.C with AV writes its data, with WSI raises FENCE_W_IP and CIP")
  func iofence() throws {
    let (memory, hw) = Self.machine()
    let r = hw.registers
    try r.writeq(0x2000_0000 | 0x3, 0x18)
    try r.writel(0x3, 0x48)
    let fence: UInt64 = 2 | (1 << 10) | (1 << 11) | (0xcafe << 32)
    try memory.write64(fence, at: 0x8000_0000)
    try memory.write64(0x8010_0000 >> 2, at: 0x8000_0008)
    try r.writel(1, 0x24)
    #expect(try r.readl(0x20) == 1)
    #expect(try memory.read32(0x8010_0000) == 0xcafe)
    #expect(try r.readl(0x48) & (1 << 11) != 0)
    #expect(try r.readl(0x54) == 1)
    #expect(hw.processedCommands.map(\.name) == ["IOFENCE.C"])
  }

  @Test("an illegal command sets CMD_ILL, stops the queue at it and raises CIP")
  func illegalCommand() throws {
    let (memory, hw) = Self.machine()
    let r = hw.registers
    try r.writeq(0x2000_0000 | 0x3, 0x18)
    try r.writel(0x3, 0x48)
    try memory.write64(0x7f, at: 0x8000_0000)
    try r.writel(1, 0x24)
    #expect(try r.readl(0x20) == 0)
    #expect(try r.readl(0x48) & (1 << 10) != 0)
    #expect(try r.readl(0x54) & 1 == 1)
    // Writing IPSR while CMD_ILL is still set leaves CIP pending.
    try r.writel(1, 0x54)
    #expect(try r.readl(0x54) & 1 == 1)
    #expect(hw.processedCommands.first?.illegal == true)
  }

  @Test("routing: OFF blocks with cause 256 written to the fault queue, BARE passes through")
  func routeOffAndBare() throws {
    let (memory, hw) = Self.machine()
    let r = hw.registers
    try r.writeq(0x2000_0400 | 0x3, 0x28)  // FQ at 0x8000_1000
    try r.writel(0x3, 0x4c)
    #expect(
      hw.route(streamID: 7, address: 0x1000, isWrite: true)
        == .blocked(reason: "cause 256: all inbound transactions disallowed (DDTP OFF)"))
    #expect(try r.readl(0x34) == 1)
    #expect(try memory.read64(0x8000_1000) == 256 | (3 << 34) | (7 << 40))
    #expect(try memory.read64(0x8000_1010) == 0x1000)
    #expect(try r.readl(0x54) == 2)
    try r.writeq(1, 0x10)
    #expect(hw.route(streamID: 7, address: 0x1000, isWrite: false) == .bypassed(physical: 0x1000))
  }
}

@Suite("The debug translation interface")
struct DebugTranslationTests {
  @Test("TR_REQ_CTL translates through the directory without queueing a fault")
  func debugTranslation() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let r = bed.hardware.registers
    try r.writeq(0x8123_4567, 0x258)
    try r.writeq(1 | (1 << 3), 0x260)  // device 0 (identity), a read
    #expect(try r.readq(0x268) == (0x8123_4000 >> 12) << 10)
    #expect(try r.readq(0x260) & 1 == 0)
    try r.writeq(1 | (3 << 40), 0x260)  // device 3: TC.V=0
    #expect(try r.readq(0x268) == 1 | (258 << 10))
    #expect(bed.hardware.faults.isEmpty)
  }
}
