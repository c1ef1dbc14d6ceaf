import IOMMUModelTesting
import Testing

@Suite("Register I/O: bounds, alignment and widths are checked in one place")
struct RegisterIOTests {
  let regs = SimulatedRegisterFile(
    size: 0x100, registers: [.init("A", offset: 0x10, width: .qword, reset: 0x1122_3344_5566_7788)])

  @Test("a read past the end is out of bounds")
  func outOfBounds() {
    #expect(throws: IOError.outOfBounds(offset: 0xfc, width: .qword, size: 0x100)) {
      try regs.read(UInt64.self, at: 0xfc)
    }
    #expect(throws: IOError.outOfBounds(offset: -4, width: .dword, size: 0x100)) {
      try regs.read(UInt32.self, at: -4)
    }
  }

  @Test("a read not aligned to its width is misaligned")
  func misaligned() {
    #expect(throws: IOError.misaligned(offset: 0x12, width: .dword)) {
      try regs.read(UInt32.self, at: 0x12)
    }
  }

  @Test("config space refuses 64-bit accesses")
  func unsupportedWidth() {
    let config = SimulatedRegisterFile(size: 256, supportedWidths: .configSpace, registers: [])
    #expect(throws: IOError.unsupportedWidth(offset: 0, width: .qword)) {
      try config.read(UInt64.self, at: 0)
    }
  }

  @Test("narrow reads see little-endian bytes of a wide register")
  func narrowReads() throws {
    #expect(try regs.read(UInt32.self, at: 0x10) == 0x5566_7788)
    #expect(try regs.read(UInt32.self, at: 0x14) == 0x1122_3344)
    #expect(try regs.read(UInt8.self, at: 0x17) == 0x11)
  }

  @Test("a snapshot reads its image and has no write path")
  func snapshot() throws {
    let snap = SnapshotRegisterIO(
      size: 0x40, registers: [(0x10, .qword, 0xdead_beef)], supportedWidths: .configSpace)
    #expect(try snap.read(UInt32.self, at: 0x10) == 0xdead_beef)
    #expect(throws: IOError.outOfBounds(offset: 0x40, width: .dword, size: 0x40)) {
      try snap.read(UInt32.self, at: 0x40)
    }
    #expect(!(snap as Any is any WritableRegisterIO))
  }
}

@Suite("Simulated register file: masks, hooks and the backdoor")
struct SimulatedRegisterFileTests {
  @Test("read-only bits keep their value, W1C bits clear on 1, the rest is read-write")
  func masks() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100,
      registers: [
        .init(
          "CQCSR", offset: 0x48, width: .dword, reset: 0x0001_0f00, readOnly: 0x0003_0000,
          writeOneToClear: 0xf00)
      ])
    try regs.write(UInt32(0x0003_0103), at: 0x48)
    // EN and IE set; MF (bit 8) cleared by its 1; other W1C bits stay; ON stays, BUSY stays 0.
    #expect(try regs.read(UInt32.self, at: 0x48) == 0x0001_0e03)
  }

  @Test("bytes no register covers read as zero and ignore writes")
  func undeclared() throws {
    let regs = SimulatedRegisterFile(size: 0x100, registers: [])
    try regs.write(UInt32(0xffff_ffff), at: 0x20)
    #expect(try regs.read(UInt32.self, at: 0x20) == 0)
  }

  @Test("a write hook sees old and new values and updates another register (CR0 -> CR0ACK)")
  func writeHook() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100,
      registers: [
        .init("CR0", offset: 0x20, width: .dword),
        .init("CR0ACK", offset: 0x24, width: .dword, readOnly: 0xffff_ffff),
      ])
    var seen: [(UInt64, UInt64)] = []
    regs.onWrite(at: 0x20) { regs, event in
      seen.append((event.oldValue, event.newValue))
      regs.poke(event.newValue, .dword, at: 0x24)
    }
    try regs.write(UInt32(0x8), at: 0x20)
    #expect(try regs.read(UInt32.self, at: 0x24) == 0x8)
    #expect(seen.map(\.0) == [0] && seen.map(\.1) == [8])
  }

  @Test("a WARL hook legalises the stored value")
  func warl() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100, registers: [.init("DDTP", offset: 0x10, width: .qword)])
    regs.legalize(at: 0x10) { old, proposed in proposed & 0xf > 4 ? old : proposed }
    try regs.write(UInt64(3), at: 0x10)
    try regs.write(UInt64(7), at: 0x10)
    #expect(try regs.read(UInt64.self, at: 0x10) == 3)
  }

  @Test("a read hook runs before the value is loaded (a BUSY bit that clears after two reads)")
  func readHook() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100, registers: [.init("S", offset: 0, width: .dword, reset: 0x10)])
    var reads = 0
    regs.onRead(at: 0) { regs, _ in
      reads += 1
      if reads >= 2 { regs.poke(0, .dword, at: 0) }
    }
    #expect(try regs.read(UInt32.self, at: 0) == 0x10)
    #expect(try regs.read(UInt32.self, at: 0) == 0)
  }

  @Test("write-only registers read as zero; all-ones fault injection")
  func writeOnlyAndAllOnes() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100, registers: [.init("GCMD", offset: 0x18, width: .dword, writeOnly: true)])
    try regs.write(UInt32(0x8000_0000), at: 0x18)
    #expect(try regs.read(UInt32.self, at: 0x18) == 0)
    #expect(regs.peek(.dword, at: 0x18) == 0x8000_0000)
    regs.readsAllOnes = true
    #expect(try regs.read(UInt64.self, at: 0x18) == ~0)
  }

  @Test("reset restores reset values")
  func reset() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100, registers: [.init("X", offset: 0, width: .dword, reset: 5)])
    try regs.write(UInt32(9), at: 0)
    regs.reset()
    #expect(try regs.read(UInt32.self, at: 0) == 5)
  }
}
