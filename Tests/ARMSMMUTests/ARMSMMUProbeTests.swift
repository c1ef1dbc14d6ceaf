import IOMMUModelTesting
import Testing

/// The configuration lines arm_smmu_device_cfg_probe() logs for the default MMU-500.
let mmu500ConfigLog = [
  p + "probing hardware configuration...",
  p + "SMMUv2 with:",
  p + "\tstage 1 translation",
  p + "\tstage 2 translation",
  p + "\tnested translation",
  p + "\taddress translation ops",
  p + "\tstream matching with 16 register groups",
  p + "\t8 context banks (0 stage-2 only)",
  p + "\tSupported page sizes: 0x61311000",
  p + "\tStage-1: 48-bit VA -> 48-bit IPA",
  p + "\tStage-2: 48-bit IPA -> 48-bit PA",
]

/// The access trace of arm_smmu_device_probe() on a power-on-reset MMU-500, built in the
/// kernel's order: cfg_probe's ID reads; arm_smmu_rmr_install_bypass_smr() setting CLIENTPD;
/// arm_smmu_device_reset() (sGFSR, 16 S2CR+SMR pairs, 8 banks' SCTLR and FSR, TLBIALLH,
/// TLBIALLNSNH, sCR0 read, arm_mmu500_reset(), the global TLB sync with one busy read, sCR0);
/// arm_smmu_test_smr_masks() on SMR0.
func mmu500ProbeTrace(s2cr: UInt32, scr0: UInt32) -> [String] {
  var t = [line("R", 0x20, 0x7808_1e10), line("R", 0x24, 0x3000_0008), line("R", 0x28, 0xd555)]
  t += [line("R", 0x0, 0x1), line("W", 0x0, 0x1)]
  t += [line("R", 0x48, 0), line("W", 0x48, 0)]
  for i in 0..<16 { t += [line("W", 0xc00 + 4 * i, s2cr), line("W", 0x800 + 4 * i, 0)] }
  for n in 0..<8 {
    let cb = 0x10000 + n * 0x1000
    t += [line("W", cb, 0), line("W", cb + 0x58, 0xc000_01fe)]
  }
  t += [line("W", 0x6c, 0xffff_ffff), line("W", 0x68, 0xffff_ffff), line("R", 0x0, 0x1)]
  t += [line("R", 0x3c, 0x21), line("R", 0x10, 0), line("W", 0x10, 0x500)]
  for n in 0..<8 {
    let cb = 0x10000 + n * 0x1000
    t += [line("R", cb + 4, 0x3), line("W", cb + 4, 0x1), line("R", cb + 4, 0x1)]
  }
  t += [line("W", 0x70, 0xffff_ffff), line("R", 0x74, 1), line("R", 0x74, 0)]
  t += [line("W", 0x0, scr0)]
  t += [line("W", 0x800, 0x7fff), line("R", 0x800, 0x7fff)]
  t += [line("W", 0x800, 0x7fff_0000), line("R", 0x800, 0x7fff_0000)]
  return t
}

@Suite("arm_smmu_device_probe on an MMU-500")
struct ARMSMMUProbeTests {
  @Test("with the Kconfig default (disable_bypass=y) every stream map entry is FAULT and USFCFG is set")
  func defaultProbe() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    #expect(f.log == mmu500ConfigLog + [p + "\tpreserved 0 boot mappings"])
    // sCR0: GFRE|GFIE|GCFGFRE|GCFGFIE|USFCFG|VMIDPNE|PTM|VMID16EN, CLIENTPD clear.
    #expect(f.trace == mmu500ProbeTrace(s2cr: 0x0002_0000, scr0: 0x8000_1c36))
    let smmu = try #require(f.smmu)
    #expect(smmu.streamidMask == 0x7fff)
    #expect(smmu.smrMaskMask == 0x7fff)
    #expect(smmu.disableBypass)
    #expect(f.hw.route(streamID: 0x42, address: 0x8000_0000, isWrite: true).isBlocked)
  }

  @Test("disable_bypass=0 writes every S2CR BYPASS and clears USFCFG, so unmatched streams pass")
  func bypassAllowed() {
    let f = SMMUFixture(parameters: ["arm_smmu.disable_bypass": "0"])
    #expect(f.probe() == nil)
    #expect(f.trace == mmu500ProbeTrace(s2cr: 0x0001_0000, scr0: 0x8000_1836))
    #expect(
      f.hw.route(streamID: 0x42, address: 0x8000_1000, isWrite: false)
        == .bypassed(physical: 0x8000_1000))
    #expect(f.hw.registers.peek(.dword, at: 0x48) == 0)
  }

  @Test("disable_bypass=0 on the kernel command line is honoured too")
  func bypassFromCommandLine() {
    let f = SMMUFixture()
    f.kernel.context.commandLine = CommandLine("arm-smmu.disable_bypass=0")
    #expect(f.probe() == nil)
    #expect(f.smmu?.disableBypass == false)
  }

  @Test("CONFIG_ARM_SMMU_DISABLE_BYPASS_BY_DEFAULT=n makes bypass the default")
  func kconfigDefaultOff() {
    let f = SMMUFixture()
    f.kernel.context.config.armSMMUDisableBypassByDefault = false
    #expect(f.probe() == nil)
    #expect(f.smmu?.disableBypass == false)
  }

  @Test("an unmatched stream with USFCFG set is recorded as USF and logged by the global fault handler")
  func unknownStreamFault() {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    f.traced.trace.removeAll()
    f.kernel.log.removeAll()
    _ = f.hw.route(streamID: 0x42, address: 0x8000_0000, isWrite: false)
    #expect(f.driver.globalFault(f.device))
    #expect(
      f.log == [
        p
          + "Blocked unknown Stream ID 0x42; boot with \"arm-smmu.disable_bypass=0\" to allow, but this may have security implications",
        p + "\tGFSR 0x00000002, GFSYNR0 0x00000000, GFSYNR1 0x00000042, GFSYNR2 0x00000000",
      ])
    #expect(
      f.trace == [
        line("R", 0x48, 2), line("R", 0x50, 0), line("R", 0x54, 0x42), line("R", 0x58, 0),
        line("W", 0x48, 2),
      ])
    // Cleared: a second interrupt finds nothing (IRQ_NONE).
    #expect(!f.driver.globalFault(f.device))
  }

  @Test("force_stage=2 hides stage 1 and nested translation from cfg_probe")
  func forceStage2() {
    let f = SMMUFixture(parameters: ["arm_smmu.force_stage": "2"])
    #expect(f.probe() == nil)
    #expect(!f.log.contains(p + "\tstage 1 translation"))
    #expect(!f.log.contains(p + "\tnested translation"))
    #expect(!f.log.contains(p + "\taddress translation ops"))
    #expect(f.log.contains(p + "\tStage-2: 48-bit IPA -> 48-bit PA"))
  }

  @Test("EXIDS gives 16-bit stream IDs and sets sCR0.EXIDENABLE")
  func extendedStreamIDs() {
    let f = SMMUFixture { hw in hw.registers.poke(0x7808_1f10, .dword, at: 0x20) }
    #expect(f.probe() == nil)
    #expect(f.trace.contains(line("W", 0x0, 0x8000_1c3e)))
    #expect(f.trace.contains(line("W", 0x800, 0xffff)))
  }

  @Test("a mapped region that is not SMMU_TOP is warned about and probing goes on")
  func addressSpaceMismatch() {
    let f = SMMUFixture { hw in hw.registers.poke(0x2000_0008, .dword, at: 0x24) }
    #expect(f.probe() == nil)
    #expect(
      f.log.contains(
        "arm-smmu 2b500000.iommu: SMMU address space size (0x10000) differs from mapped region size (0x20000)!"
      ))
  }

  @Test("MMU-500 with CACHE_LOCK held warns once that the prefetcher stays on")
  func cacheLockHeld() {
    var c = SMMUv2Configuration.mmu500
    c.id7 = 0x11
    c.sACRReset = 1 << 26
    let f = SMMUFixture(configuration: c)
    #expect(f.probe() == nil)
    let warning = p + "Failed to disable prefetcher for errata workarounds, check SACR.CACHE_LOCK"
    #expect(f.log.filter { $0 == warning }.count == 1)
    #expect(f.trace.contains(line("W", 0x10, 0x0400_0500)))
  }
}

extension DMARoute {
  var isBlocked: Bool {
    if case .blocked = self { return true }
    return false
  }
}
