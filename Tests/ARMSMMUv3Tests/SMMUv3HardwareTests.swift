import IOMMUModelTesting
import Testing

private func smmu() -> (SMMUv3, PhysicalMemory) {
  let memory = PhysicalMemory()
  memory.addRAM(base: 0x4000_0000, size: 16 << 20)
  return (SMMUv3(memory: memory), memory)
}

@Suite("SMMUv3 hardware model (QEMU 10 semantics)")
struct SMMUv3HardwareTests {
  @Test("reset values are QEMU 10's")
  func resetValues() throws {
    let (s, _) = smmu()
    let r = s.registers
    #expect(try r.read(UInt32.self, at: 0x0) == 0x0D44_101B)
    #expect(try r.read(UInt32.self, at: 0x4) == 0x0273_0010)
    #expect(try r.read(UInt32.self, at: 0x44) == 0x1000)
    #expect(try r.read(UInt64.self, at: 0x90) == 0x13)
    #expect(try r.read(UInt32.self, at: 0x1c) == 0x1)
  }

  @Test("CR0ACK follows CR0 within the write, without reserved bits")
  func cr0Ack() throws {
    let (s, _) = smmu()
    try s.registers.write(UInt32(0xffff_ffff), at: 0x20)
    #expect(try s.registers.read(UInt32.self, at: 0x24) == 0x3df)
  }

  @Test("GBPA: a write without UPDATE is ignored; with UPDATE it applies and UPDATE reads 0")
  func gbpa() throws {
    let (s, _) = smmu()
    try s.registers.write(UInt32(0x0010_1000), at: 0x44)
    #expect(try s.registers.read(UInt32.self, at: 0x44) == 0x1000)
    try s.registers.write(UInt32(0x8010_1000), at: 0x44)
    #expect(try s.registers.read(UInt32.self, at: 0x44) == 0x0010_1000)
    #expect(s.route(streamID: 1, address: 0x1000, isWrite: false) == .blocked(reason: "GBPA.ABORT while SMMUEN=0"))
  }

  @Test("page 1 aliases page 0")
  func page1() throws {
    let (s, _) = smmu()
    try s.registers.write(UInt32(0x5), at: 0x100a8)
    #expect(try s.registers.read(UInt32.self, at: 0xa8) == 0x5)
    try s.registers.write(UInt32(0x7), at: 0xac)
    #expect(try s.registers.read(UInt32.self, at: 0x100ac) == 0x7)
    #expect(try s.registers.read(UInt32.self, at: 0x10000) == 0x0D44_101B)
  }

  @Test("an illegal command stops the queue with CMDQ_CONS.ERR and GERROR.CMDQ_ERR; GERRORN restarts it")
  func illegalCommand() throws {
    let (s, memory) = smmu()
    let queue: UInt64 = 0x4010_0000
    try memory.write64(0xff, at: queue)  // no such opcode
    try memory.write64(0x46, at: queue + 16)  // CMD_SYNC
    try s.registers.write(UInt64(queue | 4), at: 0x90)
    try s.registers.write(UInt32(0x8), at: 0x20)
    try s.registers.write(UInt32(2), at: 0x98)
    #expect(try s.registers.read(UInt32.self, at: 0x9c) == 0x0100_0000)
    #expect(s.activeGlobalErrors == 0x1)
    // Software skips the bad command (as the kernel's gerror handler replaces it) and acks.
    try memory.write64(0x46, at: queue)
    try s.registers.write(UInt32(0x1), at: 0x64)
    #expect(try s.registers.read(UInt32.self, at: 0x9c) == 0x2)
    #expect(s.consumedCommands.map(\.description) == ["SYNC", "SYNC"])
  }

  @Test("CMD_SYNC with CS=IRQ and an MSI address writes MSIDATA there")
  func syncMSI() throws {
    let (s, memory) = smmu()
    let queue: UInt64 = 0x4010_0000
    try memory.write64(0x46 | 1 << 12 | 0xabcd << 32, at: queue)
    try memory.write64(0x4020_0000, at: queue + 8)
    try s.registers.write(UInt64(queue | 4), at: 0x90)
    try s.registers.write(UInt32(0x8), at: 0x20)
    try s.registers.write(UInt32(1), at: 0x98)
    #expect(try memory.read32(0x4020_0000) == 0xabcd)
  }

  @Test("STEs route: abort, bypass, invalid (C_BAD_STE), out of range (C_BAD_STREAMID); CFGI_STE refreshes the cache")
  func streamTable() throws {
    let (s, memory) = smmu()
    let table: UInt64 = 0x4030_0000
    try memory.write64(0x1, at: table)  // sid 0: abort
    try memory.write64(0x9, at: table + 64)  // sid 1: bypass
    try s.registers.write(UInt64(table), at: 0x80)
    try s.registers.write(UInt32(2), at: 0x88)  // linear, 4 entries
    try s.registers.write(UInt32(0x1), at: 0x20)
    #expect(s.route(streamID: 0, address: 0x10, isWrite: true) == .blocked(reason: "abort STE for stream 0x0"))
    #expect(s.route(streamID: 1, address: 0x10, isWrite: true) == .bypassed(physical: 0x10))
    #expect(s.route(streamID: 2, address: 0x10, isWrite: true) == .blocked(reason: "C_BAD_STE sid 0x2 addr 0x10"))
    #expect(s.route(streamID: 4, address: 0x10, isWrite: true) == .blocked(reason: "C_BAD_STREAMID sid 0x4 addr 0x10"))
    #expect(s.events.map(\.name) == ["C_BAD_STE", "C_BAD_STREAMID"])
    // Without CFGI_STE the SMMU keeps using the cached abort STE.
    try memory.write64(0x9, at: table)
    #expect(s.route(streamID: 0, address: 0x10, isWrite: true) == .blocked(reason: "abort STE for stream 0x0"))
    let queue: UInt64 = 0x4010_0000
    try memory.write64(0x03, at: queue)  // CFGI_STE sid 0
    try s.registers.write(UInt64(queue | 4), at: 0x90)
    try s.registers.write(UInt32(0x9), at: 0x20)
    try s.registers.write(UInt32(1), at: 0x98)
    #expect(s.route(streamID: 0, address: 0x10, isWrite: true) == .bypassed(physical: 0x10))
  }
}
