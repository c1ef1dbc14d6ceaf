import DeviceCore
import IOMMUModelTesting
import SimulatedHardware
import Testing

@testable import IntelIOMMU

@Suite("GCMD/GSTS handshakes, the status that never arrives, and shutdown")
struct HandshakeAndShutdownTests {
  /// A machine booted to a running system, its trace cleared.
  func running(_ config: VTdConfiguration = .qemuIntremap) -> (IntelVTdMachine, IntelVTdMachine.Boot) {
    let machine = IntelVTdMachine(configuration: config)
    let boot = machine.kernel()
    _ = boot.driver.run(X86BootStep.boot)
    boot.trace.removeAll()
    boot.kernel.log.removeAll()
    return (machine, boot)
  }

  @Test("iommu_disable_translation: the GCMD copy without TE, then one GSTS read that shows TES clear")
  func disableTranslation() throws {
    let (_, boot) = running()
    let iommu = try #require(boot.driver.units.first?.iommu)
    try boot.driver.iommuDisableTranslation(iommu)
    #expect(boot.trace.lines == ["W32 0x0018 0x06000000", "R32 0x001c 0x47000000"])
    #expect(iommu.gcmd == 0x0600_0000)
  }

  @Test("TES never follows: IOMMU_WAIT_OP spins 10 s of simulated time, then 'DMAR hardware is malfunctioning'")
  func statusNeverArrives() throws {
    let (machine, boot) = running()
    let iommu = try #require(boot.driver.units.first?.iommu)
    machine.unit.stuckStatus = 0x8000_0000
    // One turn of the loop per simulated second keeps the trace short; the kernel's loop turns
    // once per MMIO read, millions of times in its 10 s.
    boot.kernel.clock.busyWaitStepNanoseconds = 1_000_000_000
    let start = boot.kernel.clock.nanoseconds
    #expect(throws: DMARError.self) { try boot.driver.iommuDisableTranslation(iommu) }
    do throws(DMARError) {
      try boot.driver.iommuDisableTranslation(iommu)
    } catch {
      guard case .fatal(let f) = error else { Issue.record("expected a panic, got \(error)"); return }
      #expect(f.kind == .panic)
      #expect(f.message == "DMAR hardware is malfunctioning")
    }
    #expect(boot.kernel.log.lines.last == "Kernel panic - not syncing: DMAR hardware is malfunctioning")
    // Writes once, then reads GSTS at t = 0, 1, ..., 11 s: the 12th read is past the timeout.
    let firstAttempt = Array(boot.trace.lines.prefix(13))
    #expect(firstAttempt == ["W32 0x0018 0x06000000"] + Array(repeating: "R32 0x001c 0xc7000000", count: 12))
    #expect(boot.kernel.clock.nanoseconds - start >= 10_000_000_000)
  }

  @Test("PMRs: with PLMR/PHMR, shutdown clears PMEN.EPM and waits for PRS; a stuck PRS panics")
  func protectedMemoryRegions() throws {
    var config = VTdConfiguration.qemuIntremap
    config.protectedMemoryRegions = true
    let (machine, boot) = running(config)
    machine.unit.registers.poke(0x8000_0001, .dword, at: 0x64)
    try boot.driver.intelIOMMUShutdown()
    #expect(
      boot.trace.lines == [
        "R32 0x0064 0x80000001", "W32 0x0064 0x00000001", "R32 0x0064 0x00000000",
        "W32 0x0018 0x06000000", "R32 0x001c 0x47000000",
      ])
    machine.unit.registers.poke(0x8000_0001, .dword, at: 0x64)
    machine.unit.stuckProtectedRegionStatus = true
    boot.kernel.clock.busyWaitStepNanoseconds = 1_000_000_000
    #expect(throws: DMARError.self) { try boot.driver.intelIOMMUShutdown() }
  }

  @Test("shutdown is the late x86 hook: after every device's ->shutdown; TE off, QIE and IRE kept")
  func shutdownHookOrdering() throws {
    let (machine, boot) = running()
    let nic = ScriptedDriver(name: "e1000e", bus: .pci, matchTable: [.pci(vendor: 0x8086, device: 0x10d3)])
    boot.core.register(nic)
    boot.core.register(
      Device(
        name: "0000:00:02.0", bus: .pci,
        identity: .pci(PCIIdentity(vendor: 0x8086, device: 0x10d3, classCode: 0x020000))))
    let outcome = boot.driver.run([.shutdown])
    #expect(outcome.fatal == nil)
    #expect(boot.core.shutdownOrder == ["0000:00:02.0", "intel_iommu_shutdown"])
    #expect(boot.trace.lines == ["W32 0x0018 0x06000000", "R32 0x001c 0x47000000"])
    #expect(!machine.unit.translationEnabled)
    #expect(machine.unit.route(streamID: 0x10, address: 0x5000, isWrite: true) == .bypassed(physical: 0x5000))
  }

  @Test("the crash path runs no shutdown: the unit keeps translating with the old kernel's tables")
  func crashPathKeepsTranslation() {
    let (machine, boot) = running()
    // __crash_kexec(): machine_crash_shutdown() neither walks devices nor calls iommu_shutdown.
    #expect(boot.core.lateShutdownHooks.map(\.name) == ["intel_iommu_shutdown"])
    #expect(machine.unit.translationEnabled)
    #expect(boot.trace.lines.isEmpty)
  }

  @Test("a stuck TES at shutdown is reported as the hook's fatal outcome, not a crash of the model")
  func shutdownPanics() {
    let (machine, boot) = running()
    machine.unit.stuckStatus = 0x8000_0000
    boot.kernel.clock.busyWaitStepNanoseconds = 1_000_000_000
    let outcome = boot.driver.run([.shutdown])
    #expect(outcome.fatal?.message == "DMAR hardware is malfunctioning")
    #expect(boot.core.shutdownOrder == ["intel_iommu_shutdown"])
  }

  @Test("intel_iommu= options: prefix matching, comma separated, the rest of an unknown option quoted")
  func commandLine() {
    let machine = IntelVTdMachine()
    let boot = machine.kernel(commandLine: "intel_iommu=on,sm_on,igfx_off intel_iommu=strict,bogus,sp_off")
    boot.driver.intelIOMMUSetup()
    #expect(
      boot.log == [
        "DMAR: IOMMU enabled", "DMAR: Enable scalable mode if hardware supports", "DMAR: Disable GFX device mapping",
        "DMAR: intel_iommu=strict deprecated; use iommu.strict=1 instead", "DMAR: Unknown option - 'bogus,sp_off'",
        "DMAR: Disable supported super page",
      ])
    #expect(boot.driver.intelIOMMUSM && boot.driver.disableIgfx && !boot.driver.superpage)
  }

  @Test("a DMA fault is recorded by the unit and logged and cleared by dmar_fault() with the kernel's text")
  func faultHandling() throws {
    let (machine, boot) = running()
    #expect(
      machine.unit.route(streamID: 0xfa, address: 0x12345, isWrite: false) == .blocked(reason: "DMAR fault reason 0x06")
    )
    try boot.driver.faultInterrupt()
    #expect(
      boot.kernel.log.lines == [
        "DMAR: DRHD: handling fault status reg 2",
        "DMAR: [DMA Read NO_PASID] Request device [00:1f.2] fault addr 0x12000 [fault reason 0x06] PTE Read access is not set",
      ])
    #expect(
      boot.trace.lines == [
        "R32 0x0034 0x00000002", "R32 0x022c 0xc0000006", "R32 0x0228 0x000000fa", "R64 0x0220 0x0000000000012000",
        "W32 0x022c 0x80000000", "R32 0x022c 0x40000006", "W32 0x0034 0x00000083",
      ])
    #expect(try machine.unit.registers.read(UInt32.self, at: 0x34) == 0)
  }

  @Test("kdump copies the interrupt remapping table: the old kernel's IRTEs stay allocated")
  func irTableCopy() throws {
    let machine = IntelVTdMachine()
    _ = machine.kernel().driver.run(X86BootStep.boot + [.irte(1), .irte(8)])
    let crash = machine.kernel(kdump: true)
    _ = crash.driver.run(X86BootStep.boot)
    let table = try #require(crash.driver.units.first?.iommu?.irTable)
    #expect(table.used == [1, 8])
    #expect(table.base.address >= IntelVTdMachine.crashPool.base)
  }

  @Test("a queue error left pending by the crashed kernel: qi_check_fault() clears IQE and the boot goes on")
  func pendingQueueError() {
    let machine = IntelVTdMachine()
    _ = machine.kernel().driver.run(X86BootStep.boot)
    machine.unit.registers.poke(0x10, .dword, at: 0x34)  // FSTS.IQE
    let crash = machine.kernel(kdump: true)
    let outcome = crash.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(crash.log.contains("DMAR: Invalidation Queue Error (IQE) cleared"))
    #expect(crash.log.last == "DMAR: Intel(R) Virtualization Technology for Directed I/O")
    // The global IEC flush after SIRTP found the queue stopped: FSTS read, IQH read, IQE cleared.
    let after = crash.trace.lines.drop { $0 != "W32 0x0088 0x00000020" }.prefix(4)
    #expect(
      Array(after) == [
        "W32 0x0088 0x00000020", "R32 0x0034 0x00000010", "R32 0x0080 0x00000000", "W32 0x0034 0x00000010",
      ])
    #expect(machine.unit.translationEnabled)
  }

  @Test("a wedged invalidation queue: qi_submit_sync() spins on the wait status, reported as a hang")
  func stalledQueue() {
    let machine = IntelVTdMachine()
    machine.unit.stalledInvalidationQueue = true
    let clock = SimulatedClock()
    clock.busyWaitStepNanoseconds = 1_000_000_000
    let boot = machine.kernel(clock: clock)
    let outcome = boot.driver.run(X86BootStep.boot)
    #expect(outcome.fatal?.kind == .hang)
    #expect(outcome.fatal?.message == "DMAR: dmar0: queued invalidation never completed")
    // The global IEC flush after SIRTP: IQT moved, then qi_check_fault() reads FSTS each turn.
    let after = Array(boot.trace.lines.drop { $0 != "W32 0x0088 0x00000020" })
    #expect(after == ["W32 0x0088 0x00000020"] + Array(repeating: "R32 0x0034 0x00000000", count: 12))
  }

  @Test("a variant name round-trips for the handover machine")
  func variants() {
    #expect(IntelIOMMUVariant.allCases.map(\.rawValue) == ["kernel", "reset-on-kdump", "kernel-list"])
    #expect(IntelIOMMUVariant(rawValue: "reset-on-kdump") == .resetOnKdump)
    #expect(IntelIOMMUVariant(rawValue: "kernel-list") == .kernelList)
  }
}
