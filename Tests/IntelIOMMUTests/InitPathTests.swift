import IOMMUModelTesting
import IntelIOMMU
import SimulatedHardware
import Testing

/// The common head of every boot on the reference q35 machine (intel_iommu=on, intremap=on).
let bootHead = [
  "DMAR: IOMMU enabled",
  "DMAR: Host address width 48",
  "DMAR: DRHD base: 0x000000fed90000 flags: 0x0",
  "DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c222f0606 ecap f00f4a",
  "DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0",
]
let noRMRR = ["DMAR: No RMRR found", "DMAR: No ATSR found", "DMAR: No SATC found"]
/// iommu_group_add_device() for the q35 functions (one group per slot), as the real console shows.
let q35Groups = [
  "pci 0000:00:00.0: Adding to iommu group 0", "pci 0000:00:01.0: Adding to iommu group 1",
  "pci 0000:00:02.0: Adding to iommu group 2", "pci 0000:00:1f.0: Adding to iommu group 3",
  "pci 0000:00:1f.2: Adding to iommu group 3", "pci 0000:00:1f.3: Adding to iommu group 3",
]

@Suite("intel_iommu_init paths: fresh boot, translation found on, kdump copy, reset-on-kdump")
struct InitPathTests {
  @Test("fresh boot: QI, IR, root table, fault interrupt, then TE; the exact trace of Linux 7.2")
  func freshBoot() {
    let machine = IntelVTdMachine()
    let boot = machine.kernel()
    let outcome = boot.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(
      boot.log == bootHead + ["DMAR-IR: Enabled IRQ remapping in xapic mode"] + noRMRR + [
        "DMAR: dmar0: Using Queued invalidation"
      ] + q35Groups + ["DMAR: Intel(R) Virtualization Technology for Directed I/O"])
    #expect(
      boot.trace.lines == [
        "R64 0x0008 0x00d2008c222f0606", "R64 0x0010 0x0000000000f00f4a",  // dmar_validate_one_drhd
        "R64 0x0008 0x00d2008c222f0606", "R64 0x0010 0x0000000000f00f4a",  // map_iommu
        "R32 0x0000 0x00000010", "R32 0x001c 0x00000000",  // alloc_iommu: VER, GSTS
        "R32 0x0034 0x00000000", "R32 0x001c 0x00000000",  // dmar_fault, dmar_disable_qi
        "W32 0x0088 0x00000000", "W64 0x0090 0x0000000001100000",  // __dmar_enable_qi
        "W32 0x0018 0x04000000", "R32 0x001c 0x04000000",
        "R32 0x001c 0x04000000",  // init_ir_status
        "W64 0x00b8 0x000000000100000f", "W32 0x0018 0x05000000", "R32 0x001c 0x05000000",  // SIRTP
        "W32 0x0088 0x00000020",  // qi_global_iec
        "W32 0x0018 0x06000000", "R32 0x001c 0x07000000",  // IRE
        "R32 0x001c 0x07000000",  // init_translation_status
        "W64 0x0020 0x0000000001102000", "W32 0x0018 0x46000000", "R32 0x001c 0x47000000",  // SRTP
        "W32 0x0088 0x00000040", "W32 0x0088 0x00000060",  // global context cache, IOTLB
        "W32 0x003c 0x00000021", "W32 0x0040 0xfee00000", "W32 0x0044 0x00000000",
        "W32 0x003c 0x00000021", "W32 0x0040 0xfee00000", "W32 0x0044 0x00000000",
        "W32 0x0038 0x00000000", "R32 0x0038 0x00000000",  // fault event unmasked
        "W32 0x0018 0x86000000", "R32 0x001c 0xc7000000",  // TE
      ])
    #expect(machine.unit.translationEnabled)
    // Devices got their default (DMA) domain: context entries present, empty page tables.
    #expect(boot.driver.attached == Set(IntelVTdMachine.q35Devices))
    #expect(
      machine.unit.route(streamID: 0x10, address: 0x1000, isWrite: true) == .blocked(reason: "DMAR fault reason 0x05"))
  }

  @Test("translation found on outside kdump: IR and TE are switched off with the kernel's messages, then set up anew")
  func translationFoundOnOutsideKdump() {
    let machine = IntelVTdMachine()
    _ = machine.kernel().driver.run(X86BootStep.boot)
    // The next kernel is not a kdump kernel, yet nobody ran intel_iommu_shutdown().
    let next = machine.kernel()
    let outcome = next.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(
      next.log == bootHead + [
        "DMAR-IR: IRQ remapping was enabled on dmar0 but we are not in kdump mode",
        "DMAR-IR: Enabled IRQ remapping in xapic mode",
      ] + noRMRR + [
        "DMAR: dmar0: Using Queued invalidation",
        "DMAR: Translation was enabled for dmar0 but we are not in kdump mode",
      ] + q35Groups + ["DMAR: Intel(R) Virtualization Technology for Directed I/O"])
    let gcmd = next.trace.accesses.filter { $0.kind == .write && $0.offset == 0x18 }.map(\.value)
    // QIE off and on, IRE off (after a global IEC flush), SIRTP, IRE on, TE off, SRTP, TE on.
    #expect(
      gcmd == [0x8200_0000, 0x8600_0000, 0x8400_0000, 0x8500_0000, 0x8600_0000, 0x0600_0000, 0x4600_0000, 0x8600_0000])
    #expect(machine.unit.translationEnabled)
  }

  @Test(
    "kdump with a good copy: TE never drops, the old tables are copied, attaches are deferred, DMA keeps translating")
  func kdumpGoodCopy() throws {
    let machine = IntelVTdMachine()
    let old = machine.kernel()
    _ = old.driver.run(X86BootStep.boot)
    try old.driver.mapPage(rid: 0x10, iova: 0x4000, phys: 0x3000_0000)
    #expect(machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .translated(physical: 0x3000_0010))
    // Crash: no shutdown runs; the crash kernel boots on the same hardware.
    let crash = machine.kernel(kdump: true)
    let outcome = crash.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(
      crash.log == bootHead + [
        "DMAR-IR: Copied IR table for dmar0 from previous kernel",
        "DMAR-IR: Enabled IRQ remapping in xapic mode",
      ] + noRMRR + [
        "DMAR: dmar0: Using Queued invalidation",
        "DMAR: Translation already enabled - trying to copy translation structures",
        "DMAR: Copied translation tables from previous kernel for dmar0",
      ] + q35Groups + ["DMAR: Intel(R) Virtualization Technology for Directed I/O"])
    let gcmd = crash.trace.accesses.filter { $0.kind == .write && $0.offset == 0x18 }.map(\.value)
    #expect(gcmd.allSatisfy { $0 & 0x8000_0000 != 0 })
    #expect(crash.trace.lines.contains("R64 0x0020 0x0000000001102000"))  // copy_translation_tables
    #expect(machine.unit.rootTable.address == IntelVTdMachine.crashPool.base + 0x10_2000)
    let iommu = try #require(crash.driver.units.first?.iommu)
    #expect(iommu.copiedTables == Set(IntelVTdMachine.q35Devices))
    #expect(crash.driver.attached.isEmpty)
    // In-flight DMA still reaches the old kernel's buffer through the copied context entry.
    #expect(machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .translated(physical: 0x3000_0010))
    // First DMA API use: the copied entry's domain is flushed and replaced.
    machine.unit.clearEvents()
    try crash.driver.deferredAttach(0x10)
    #expect(machine.unit.events.contains("vtd_inv_desc_cc_device context invalidate device 0x0:0x2.0x0"))
    #expect(
      machine.unit.route(streamID: 0x10, address: 0x4010, isWrite: true) == .blocked(reason: "DMAR fault reason 0x05"))
  }

  @Test("kdump with a failing copy (scalable-mode mismatch): -EINVAL, translation off, fresh tables, TE on again")
  func kdumpScalableModeMismatch() {
    var config = VTdConfiguration.qemuIntremap
    config.scalableMode = true
    let machine = IntelVTdMachine(configuration: config)
    _ = machine.kernel(commandLine: "intel_iommu=on,sm_on").driver.run(X86BootStep.boot)
    #expect(machine.unit.rootTable.scalable)
    let crash = machine.kernel(kdump: true, commandLine: "intel_iommu=on,sm_off")
    let outcome = crash.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(crash.log.contains("DMAR: Failed to copy translation tables from previous kernel for dmar0"))
    #expect(!crash.log.contains("DMAR: Copied translation tables from previous kernel for dmar0"))
    let gcmd = crash.trace.accesses.filter { $0.kind == .write && $0.offset == 0x18 }.map(\.value)
    #expect(gcmd.suffix(3) == [0x0600_0000, 0x4600_0000, 0x8600_0000])
    #expect(machine.unit.rootTable.scalable == false)
    #expect(machine.unit.translationEnabled)
  }

  @Test("kdump with the old root table outside RAM: the copy fails with -ENOMEM and falls back")
  func kdumpRootTableUnmapped() {
    let machine = IntelVTdMachine()
    _ = machine.kernel().driver.run(X86BootStep.boot)
    // RTADDR as the old kernel left it, but pointing at no RAM.
    machine.unit.registers.poke(0x8000_0000_0000, .qword, at: 0x20)
    let crash = machine.kernel(kdump: true)
    _ = crash.driver.run(X86BootStep.boot)
    #expect(crash.log.contains("DMAR: Failed to copy translation tables from previous kernel for dmar0"))
    #expect(crash.driver.units.first?.iommu?.translationPreEnabled == false)
    #expect(crash.driver.attached == Set(IntelVTdMachine.q35Devices))
  }

  @Test("reset-on-kdump: the crash kernel disables IR and translation at once and copies nothing")
  func resetOnKdump() {
    let machine = IntelVTdMachine()
    _ = machine.kernel().driver.run(X86BootStep.boot)
    let crash = machine.kernel(kdump: true, variant: .resetOnKdump)
    let outcome = crash.driver.run(X86BootStep.boot)
    #expect(outcome.fatal == nil && outcome.errors.isEmpty)
    #expect(
      crash.log == bootHead + [
        "DMAR-IR: IRQ remapping was enabled on dmar0 - disabling it in the kdump kernel (reset-on-kdump)",
        "DMAR-IR: Enabled IRQ remapping in xapic mode",
      ] + noRMRR + [
        "DMAR: dmar0: Using Queued invalidation",
        "DMAR: Translation was enabled for dmar0 - disabling it in the kdump kernel (reset-on-kdump)",
      ] + q35Groups + ["DMAR: Intel(R) Virtualization Technology for Directed I/O"])
    #expect(!crash.trace.lines.contains { $0.hasPrefix("R64 0x0020") })
    #expect(crash.driver.attached == Set(IntelVTdMachine.q35Devices))
  }

  @Test("intel_iommu=off: every unit's translation is switched off, even one a previous kernel left on; -ENODEV")
  func disabledOnCommandLine() {
    let machine = IntelVTdMachine()
    _ = machine.kernel().driver.run(X86BootStep.boot)
    let next = machine.kernel(commandLine: "intel_iommu=off")
    let outcome = next.driver.run([.earlyParams, .detect, .iommuInit])
    #expect(outcome.initResult == .ENODEV)
    #expect(next.log.first == "DMAR: IOMMU disabled")
    #expect(Array(next.trace.lines.suffix(2)) == ["W32 0x0018 0x06000000", "R32 0x001c 0x47000000"])
    #expect(!machine.unit.translationEnabled)
  }

  @Test("no queued invalidation (ECAP.QI clear): register-based invalidation through CCMD and IOTLB")
  func registerBasedInvalidation() {
    var config = VTdConfiguration.qemuDefault
    config.ecapOverride = 0xf40  // IRO 0xf0, PT; no QI, no IR
    let machine = IntelVTdMachine(configuration: config)
    let boot = machine.kernel()
    let outcome = boot.driver.run(X86BootStep.boot)
    #expect(outcome.errors.map(\.errno) == [.ENODEV])  // no interrupt remapping
    #expect(boot.log.contains("DMAR: dmar0: Using Register based invalidation"))
    let flushes = boot.trace.lines.filter { $0.contains(" 0x0028 ") || $0.contains(" 0x00f8 ") }
    #expect(
      flushes == [
        "W64 0x0028 0xa000000000000000", "R64 0x0028 0x2800000000000000",
        "W64 0x00f8 0x9003000000000000", "R64 0x00f8 0x1203000000000000",
      ])
  }
}
