import IOMMUModelTesting
import IntelIOMMU
import SimulatedHardware
import Testing

/// The canonical line of a register access.
private func line(_ kind: MMIOAccess.Kind, _ width: AccessWidth, _ offset: Int, _ value: UInt64) -> String {
  MMIOAccess(kind, width, offset: offset, value: value).description
}

@Suite("kernel-list: shutdown leaves TE on; the next kernel keeps it and switches to an empty root table with SRTP")
struct KernelListTests {
  /// An old kernel under kernel-list with 00:02.0 attached and one page mapped for it.
  private func oldKernel(_ machine: IntelVTdMachine) throws -> IntelVTdMachine.Boot {
    let old = machine.kernel(variant: .kernelList)
    #expect(old.driver.run(X86BootStep.boot).initResult == nil)
    try old.driver.deferredAttach(0x10)
    try old.driver.mapPage(rid: 0x10, iova: 0x4000, phys: 0x3000_0000)
    #expect(machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .translated(physical: 0x3000_0010))
    return old
  }

  @Test(
    "kdump: RTADDR checked, the empty root written, SRTP with TE still set, then global context-cache and IOTLB invalidation through QI; unattached DMA faults"
  )
  func kdumpSwitch() throws {
    let machine = IntelVTdMachine()
    _ = try oldKernel(machine)
    let oldRoot = machine.unit.rootTable.address
    // Crash: no shutdown runs.
    machine.unit.clearEvents()
    let crash = machine.kernel(kdump: true, variant: .kernelList)
    let outcome = crash.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty && outcome.initResult == nil)
    #expect(
      crash.log == bootHead + [
        "DMAR-IR: Copied IR table for dmar0 from previous kernel",
        "DMAR-IR: Enabled IRQ remapping in xapic mode",
      ] + noRMRR + [
        "DMAR: dmar0: Using Queued invalidation",
        "DMAR: Translation already enabled - blocking DMA with an empty root table for dmar0",
      ] + q35Groups + ["DMAR: Intel(R) Virtualization Technology for Directed I/O"])
    let newRoot = machine.unit.rootTable.address
    #expect(newRoot != oldRoot)
    #expect(
      (IntelVTdMachine.crashPool.base..<IntelVTdMachine.crashPool.base + IntelVTdMachine.crashPool.size).contains(
        newRoot))
    // The switch: one SRTP write with TE (and QIE, IRE) set; nothing else touches GCMD's TE.
    let start = try #require(crash.trace.lines.firstIndex(of: line(.read, .qword, 0x20, oldRoot)))
    #expect(
      Array(crash.trace.lines[start..<start + 6]) == [
        line(.read, .qword, 0x20, oldRoot),  // the SMT check of the old RTADDR
        line(.write, .qword, 0x20, newRoot),  // RTADDR: latched only by SRTP
        line(.write, .dword, 0x18, 0xc600_0000),  // GCMD = TE | SRTP | QIE | IRE: the atomic step
        line(.read, .dword, 0x1c, 0xc700_0000),  // RTPS
        line(.write, .dword, 0x88, 0x40),  // IQT: context-cache global + wait
        line(.write, .dword, 0x88, 0x60),  // IQT: IOTLB global + wait
      ])
    let gcmd = crash.trace.accesses.filter { $0.kind == .write && $0.offset == 0x18 }.map(\.value)
    #expect(gcmd.allSatisfy { $0 & 0x8000_0000 != 0 })
    #expect(gcmd.filter { $0 & 0x4000_0000 != 0 } == [0xc600_0000])
    let root = try #require(machine.unit.events.firstIndex(of: "vtd_reg_dmar_root addr \(hex(newRoot)) scalable 0"))
    let after = Array(machine.unit.events[root...])
    let cc = try #require(after.firstIndex(of: "vtd_inv_desc_cc_global context invalidate globally"))
    let iotlb = try #require(after.firstIndex(of: "vtd_inv_desc_iotlb_global iotlb invalidate global"))
    #expect(cc < iotlb)
    // Every root entry is not present: nothing was copied, attaches are deferred.
    #expect(try machine.memory.isZero(newRoot, length: 4096))
    #expect(crash.driver.attached.isEmpty)
    let iommu = try #require(crash.driver.units.first?.iommu)
    #expect(iommu.translationPreEnabled && iommu.copiedTables.isEmpty)
    // The old kernel's device, still running: blocked, the fault recorded.
    let faults = machine.unit.faultLog.count
    #expect(
      machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .blocked(reason: "DMAR fault reason 0x01"))
    #expect(machine.unit.faultLog.count == faults + 1)
    #expect(machine.unit.faultLog.last?.reason == .rootEntryNotPresent && machine.unit.faultLog.last?.recorded == true)
    // Its driver probes in the crash kernel: the first DMA API use attaches it as usual.
    try crash.driver.deferredAttach(0x10)
    try crash.driver.mapPage(rid: 0x10, iova: 0x4000, phys: 0x2100_0000)
    #expect(machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .translated(physical: 0x2100_0010))
  }

  @Test("kexec: shutdown writes nothing and leaves TE on; the kexec'd kernel keeps TE instead of disabling it")
  func kexecSwitch() throws {
    let machine = IntelVTdMachine()
    let old = try oldKernel(machine)
    let before = old.trace.lines.count
    let shutdown = old.driver.run([.shutdown])
    #expect(shutdown.fatal == nil)
    #expect(old.log.last == "DMAR: dmar0: leaving translation enabled for the next kernel")
    #expect(old.trace.lines.count == before)
    #expect(machine.unit.translationEnabled)

    let next = machine.kernel(variant: .kernelList)
    let outcome = next.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty && outcome.initResult == nil)
    // Interrupt remapping as the kernel does it outside kdump; translation kept.
    #expect(next.log.contains("DMAR-IR: IRQ remapping was enabled on dmar0 but we are not in kdump mode"))
    #expect(next.log.contains("DMAR: Translation already enabled - blocking DMA with an empty root table for dmar0"))
    #expect(!next.log.contains("DMAR: Translation was enabled for dmar0 but we are not in kdump mode"))
    let gcmd = next.trace.accesses.filter { $0.kind == .write && $0.offset == 0x18 }.map(\.value)
    #expect(gcmd.allSatisfy { $0 & 0x8000_0000 != 0 })
    #expect(gcmd.filter { $0 & 0x4000_0000 != 0 } == [0xc600_0000])
    #expect(try machine.memory.isZero(machine.unit.rootTable.address, length: 4096))
    #expect(
      machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .blocked(reason: "DMAR fault reason 0x01"))
  }

  @Test("a root table of the other mode (SMT) cannot be replaced with TE on: translation off, fresh table, TE on")
  func scalableModeMismatch() {
    var config = VTdConfiguration.qemuIntremap
    config.scalableMode = true
    let machine = IntelVTdMachine(configuration: config)
    _ = machine.kernel(commandLine: "intel_iommu=on,sm_on", variant: .kernelList).driver.run(X86BootStep.boot)
    let crash = machine.kernel(kdump: true, commandLine: "intel_iommu=on,sm_off", variant: .kernelList)
    let outcome = crash.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(crash.log.contains("DMAR: Cannot switch root table of dmar0 with translation on, disabling translation"))
    let gcmd = crash.trace.accesses.filter { $0.kind == .write && $0.offset == 0x18 }.map(\.value)
    #expect(gcmd.suffix(3) == [0x0600_0000, 0x4600_0000, 0x8600_0000])
    #expect(machine.unit.translationEnabled && !machine.unit.rootTable.scalable)
  }
}
