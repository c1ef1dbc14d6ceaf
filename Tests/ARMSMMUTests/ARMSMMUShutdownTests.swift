import IOMMUModelTesting
import Testing

/// Shutdown in both variants, remove, the TLB sync timeout, and a kdump kernel meeting an SMMU
/// the crashed kernel left live.
@Suite("arm_smmu_device_shutdown, TLB sync and kdump")
struct ARMSMMUShutdownTests {
  @Test("kernel variant: shutdown writes sCR0 = CLIENTPD alone, and every stream then bypasses")
  func kernelShutdown() {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    f.traced.trace.removeAll()
    f.kernel.log.removeAll()
    f.core.deviceShutdown()
    #expect(f.trace == [line("W", 0x0, 0x1)])
    #expect(f.log.isEmpty)
    #expect(
      f.hw.route(streamID: 0x42, address: 0x8000_0000, isWrite: true)
        == .bypassed(physical: 0x8000_0000))
  }

  @Test("kernel variant with a context bank in use notices \"disabling translation\"")
  func kernelShutdownWithDomain() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    try f.driver.probeDevice(m)
    _ = try f.driver.attachPaging(m)
    f.traced.trace.removeAll()
    f.kernel.log.removeAll()
    f.driver.shutdown(f.device)
    #expect(f.log == [p + "disabling translation"])
    #expect(f.trace == [line("W", 0x0, 0x1)])
    #expect(
      f.hw.route(streamID: 0x10, address: 0x1000, isWrite: true) == .bypassed(physical: 0x1000))
  }

  @Test("abort-on-shutdown with disable_bypass: every entry FAULT, SMRs invalid, banks off, then sCR0 with USFCFG")
  func abortShutdown() throws {
    let f = SMMUFixture(variant: .abortOnShutdown)
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    try f.driver.probeDevice(m)
    try f.driver.attachIdentity(m)
    f.traced.trace.removeAll()
    f.core.deviceShutdown()
    var expected: [String] = []
    // SMR0 keeps its ID (0x10) with VALID clear, as arm_smmu_write_smr() writes it.
    for i in 0..<16 {
      expected += [line("W", 0xc00 + 4 * i, 0x0002_0000), line("W", 0x800 + 4 * i, i == 0 ? 0x10 : 0)]
    }
    for n in 0..<8 { expected.append(line("W", 0x10000 + n * 0x1000, 0)) }
    expected += [
      line("W", 0x6c, 0xffff_ffff), line("W", 0x68, 0xffff_ffff), line("R", 0x0, 0x8000_1c36),
      line("W", 0x70, 0xffff_ffff), line("R", 0x74, 1), line("R", 0x74, 0),
      line("W", 0x0, 0x8000_1c36),
    ]
    #expect(f.trace == expected)
    #expect(f.hw.route(streamID: 0x10, address: 0x1000, isWrite: true).isBlocked)
    #expect(f.hw.route(streamID: 0x77, address: 0x1000, isWrite: false).isBlocked)
  }

  @Test("abort-on-shutdown with disable_bypass=0 shuts down as the kernel does")
  func abortShutdownBypassAllowed() {
    let f = SMMUFixture(parameters: ["arm_smmu.disable_bypass": "n"], variant: .abortOnShutdown)
    #expect(f.probe() == nil)
    f.traced.trace.removeAll()
    f.core.deviceShutdown()
    #expect(f.trace == [line("W", 0x0, 0x1)])
  }

  @Test("remove takes the shutdown path")
  func remove() {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    f.traced.trace.removeAll()
    f.core.unbind(f.device)
    #expect(f.trace == [line("W", 0x0, 0x1)])
  }

  @Test("the variants are enumerable by raw value")
  func variants() {
    #expect(ARMSMMUVariant.allCases.map(\.rawValue) == ["kernel", "abort-on-shutdown", "abort", "kernel-list"])
  }

  @Test("a TLB sync that never completes times out after 2^20-1 µs of simulated time, 200 reads, and probing goes on")
  func tlbSyncTimeout() {
    let f = SMMUFixture { hw in hw.tlbSyncNeverCompletes = true }
    #expect(f.probe() == nil)
    #expect(f.log.contains(p + "TLB sync timed out -- SMMU may be deadlocked"))
    #expect(f.kernel.clock.microseconds == 1_048_575)
    let sync = f.trace.firstIndex(of: line("W", 0x70, 0xffff_ffff)) ?? 0
    let polls = f.trace[(sync + 1)...].prefix { $0 == line("R", 0x74, 1) }
    #expect(polls.count == 200)
    #expect(f.trace[sync + 201] == line("W", 0x0, 0x8000_1c36))
  }

  @Test("a kdump kernel probing an SMMU left live opens a bypass window, then aborts the old stream")
  func kdumpProbeOfLiveSMMU() throws {
    let old = SMMUFixture()
    #expect(old.probe() == nil)
    let m = old.master("dma0", streamIDs: [0x10])
    try old.driver.probeDevice(m)
    let domain = try old.driver.attachPaging(m)
    try domain.pageTable.map(iova: 0x1000, paddr: 0x8800_0000, size: 0x1000)
    #expect(
      old.hw.route(streamID: 0x10, address: 0x1234, isWrite: true)
        == .translated(physical: 0x8800_0234))
    // __crash_kexec(): no shutdown; the crash kernel probes the same silicon.
    let crash = SMMUFixture(hw: old.hw, memory: old.memory, kdump: true)
    var routesAtSCR0Writes: [DMARoute] = []
    crash.hw.registers.onWrite(at: 0x0) { _, _ in
      routesAtSCR0Writes.append(crash.hw.route(streamID: 0x10, address: 0x1234, isWrite: true))
    }
    #expect(crash.probe() == nil)
    #expect(
      Array(crash.trace[3...4]) == [line("R", 0x0, 0x8000_1c36), line("W", 0x0, 0x8000_1c37)])
    #expect(routesAtSCR0Writes.count == 2)
    #expect(routesAtSCR0Writes.first == .bypassed(physical: 0x1234))
    #expect(routesAtSCR0Writes.last?.isBlocked == true)
    #expect(crash.driver.globalFault(crash.device))
    #expect(crash.log.contains(where: { $0.contains("Blocked unknown Stream ID 0x10") }))
  }

  @Test("in a kdump kernel with disable_bypass=0 the old stream keeps bypassing to physical memory")
  func kdumpProbeBypass() throws {
    let old = SMMUFixture()
    #expect(old.probe() == nil)
    let crash = SMMUFixture(
      hw: old.hw, memory: old.memory, kdump: true, parameters: ["arm_smmu.disable_bypass": "0"])
    #expect(crash.probe() == nil)
    #expect(
      crash.hw.route(streamID: 0x10, address: 0x8800_0000, isWrite: true)
        == .bypassed(physical: 0x8800_0000))
  }

  /// An old kernel under `variant` with master dma0 (stream 0x10) attached shuts down for
  /// kexec, leaving the stream blocked; the next kernel probes under `variant`. Returns the
  /// next kernel and the stream's route at each of its sCR0 writes.
  func kexecThenProbe(_ variant: ARMSMMUVariant) throws -> (next: SMMUFixture, routes: [DMARoute]) {
    let old = SMMUFixture(variant: variant)
    #expect(old.probe() == nil)
    let m = old.master("dma0", streamIDs: [0x10])
    try old.driver.probeDevice(m)
    _ = try old.driver.attachPaging(m)
    old.kernel.context.kexecInProgress = true
    old.core.deviceShutdown()
    #expect(old.hw.route(streamID: 0x10, address: 0x1000, isWrite: true).isBlocked)
    let next = SMMUFixture(hw: old.hw, memory: old.memory, variant: variant)
    var routes: [DMARoute] = []
    next.hw.registers.onWrite(at: 0x0) { _, _ in
      routes.append(next.hw.route(streamID: 0x10, address: 0x1000, isWrite: true))
    }
    #expect(next.probe() == nil)
    return (next, routes)
  }

  @Test("after an abort-on-shutdown kexec the next kernel's RMR step still opens a bypass window")
  func abortThenKexecWindow() throws {
    let (next, routes) = try kexecThenProbe(.abortOnShutdown)
    // arm_smmu_rmr_install_bypass_smr() reads the live sCR0 and sets CLIENTPD.
    #expect(Array(next.trace[3...4]) == [line("R", 0x0, 0x8000_1c36), line("W", 0x0, 0x8000_1c37)])
    #expect(routes.first == .bypassed(physical: 0x1000))
    #expect(routes.last?.isBlocked == true)
  }

  @Test("after an abort kexec the next kernel's RMR step sets USFCFG, not CLIENTPD: no bypass window")
  func abortThenKexecNoWindow() throws {
    let (next, routes) = try kexecThenProbe(.abort)
    // The shutdown left USFCFG set already: the RMR step's write changes nothing.
    #expect(Array(next.trace[3...4]) == [line("R", 0x0, 0x8000_1c36), line("W", 0x0, 0x8000_1c36)])
    #expect(!routes.isEmpty && routes.allSatisfy(\.isBlocked))
  }

  @Test("abort with disable_bypass=0 keeps Linux 7.2's RMR step (CLIENTPD): the variant only honours disable_bypass")
  func abortWithoutDisableBypass() throws {
    let f = SMMUFixture(parameters: ["arm_smmu.disable_bypass": "n"], variant: .abort)
    #expect(f.probe() == nil)
    let sCR0Writes = f.trace.filter { $0.hasPrefix("W32 0x0000 ") }
    #expect(sCR0Writes.first.map { UInt32($0.suffix(8), radix: 16)! & 1 == 1 } == true)
  }
}
