import IOMMUModelTesting
import Testing

/// The silicon side alone: handshakes, latching and stream matching of the SMMUv2 model.
@Suite("SMMUv2 hardware model")
struct SMMUv2ModelTests {
  /// An enabled SMMU: client port on, unmatched streams fault.
  func enabled(_ c: SMMUv2Configuration = .mmu500) -> ARMSMMUv2 {
    let hw = ARMSMMUv2(configuration: c)
    hw.registers.poke(0x400, .dword, at: 0x0)
    return hw
  }

  @Test("a global TLB sync stays active for tlbSyncBusyReads reads of sTLBGSTATUS, then completes")
  func syncBusyPhase() throws {
    var c = SMMUv2Configuration.mmu500
    c.tlbSyncBusyReads = 3
    let hw = ARMSMMUv2(configuration: c)
    try hw.registers.write(UInt32(0xffff_ffff), at: 0x70)
    let reads = try (0..<5).map { _ in try hw.registers.read(UInt32.self, at: 0x74) }
    #expect(reads == [1, 1, 1, 0, 0])
  }

  @Test("power-on reset puts CLIENTPD back: every stream bypasses")
  func powerOnReset() {
    let hw = enabled()
    #expect(hw.route(streamID: 1, address: 0x1000, isWrite: false).isBlocked)
    hw.powerOnReset()
    #expect(hw.sCR0 == 1)
    #expect(hw.route(streamID: 1, address: 0x1000, isWrite: false) == .bypassed(physical: 0x1000))
  }

  @Test("two valid SMRs matching one stream are a stream match conflict (sGFSR.SMCF)")
  func matchConflict() {
    let hw = enabled()
    hw.registers.poke(0x8000_0010, .dword, at: 0x800)
    hw.registers.poke(0x8001_0010, .dword, at: 0x804)
    #expect(hw.route(streamID: 0x10, address: 0, isWrite: true).isBlocked)
    #expect(hw.registers.peek(.dword, at: 0x48) == 0x4)
    #expect(hw.registers.peek(.dword, at: 0x54) == 0x10)
  }

  @Test("a second global fault only adds MULTI; the first syndrome stays")
  func multi() {
    let hw = enabled()
    _ = hw.route(streamID: 0x21, address: 0, isWrite: true)
    _ = hw.route(streamID: 0x22, address: 0, isWrite: false)
    #expect(hw.registers.peek(.dword, at: 0x48) == 0x8000_0002)
    #expect(hw.registers.peek(.dword, at: 0x50) == 0x2)
    #expect(hw.registers.peek(.dword, at: 0x54) == 0x21)
  }

  @Test("with EXIDENABLE the SMR's bit 31 is a MASK bit and S2CR.EXIDVALID says the entry is valid")
  func extendedIDs() throws {
    let hw = enabled()
    hw.registers.poke(0x408, .dword, at: 0x0)
    try hw.registers.write(UInt32(0x8000_0010), at: 0x800)
    #expect(hw.registers.peek(.dword, at: 0x800) == 0x0000_0010)
    #expect(hw.route(streamID: 0x10, address: 0, isWrite: false).isBlocked)
    hw.registers.poke(0x0001_0400, .dword, at: 0xc00)
    #expect(hw.route(streamID: 0x10, address: 0x40, isWrite: false) == .bypassed(physical: 0x40))
  }

  @Test("a bank with SCTLR.M clear passes transactions through untranslated")
  func bankOff() {
    let hw = enabled()
    hw.registers.poke(0x8000_0010, .dword, at: 0x800)
    hw.registers.poke(0x0000_0003, .dword, at: 0xc00)
    #expect(hw.route(streamID: 0x10, address: 0x5000, isWrite: true) == .bypassed(physical: 0x5000))
  }

  @Test("a bank with SCTLR.M set but no memory to walk latches a translation fault naming why")
  func noMemory() {
    let hw = enabled()
    hw.registers.poke(0x8000_0010, .dword, at: 0x800)
    hw.registers.poke(0x0, .dword, at: 0xc00)
    hw.registers.poke(0x1, .dword, at: 0x1800)
    hw.registers.poke(0x1, .dword, at: 0x10000)
    #expect(
      hw.route(streamID: 0x10, address: 0x5000, isWrite: true)
        == .blocked(
          reason: "stream 0x10 context bank 0: translation fault: no memory attached to the model"))
    #expect(hw.registers.peek(.dword, at: 0x10058) == 0x2)
    #expect(hw.registers.peek(.dword, at: 0x1400) == 0x10)
  }
}
