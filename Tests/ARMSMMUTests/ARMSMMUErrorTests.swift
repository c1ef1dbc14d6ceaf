import IOMMUModelTesting
import Testing

/// ID register combinations and firmware descriptions arm_smmu_device_probe() and
/// arm_smmu_device_cfg_probe() refuse, each with the kernel's errno, message and the reads
/// made before giving up.
@Suite("arm_smmu_device_probe refusals")
struct ARMSMMUErrorTests {
  @Test("an SMMU with neither stage 1 nor stage 2 is -ENODEV \"no translation support!\"")
  func noTranslation() {
    let f = SMMUFixture { hw in hw.registers.poke(0x0808_1e10, .dword, at: 0x20) }
    #expect(f.probe() == .ENODEV)
    #expect(f.log == [p + "probing hardware configuration...", p + "SMMUv2 with:", p + "\tno translation support!"])
    #expect(f.trace == [line("R", 0x20, 0x0808_1e10)])
  }

  @Test("force_stage=1 on a stage-2-only SMMU leaves no stage: -ENODEV")
  func forcedAwayStage() {
    let f = SMMUFixture(parameters: ["arm_smmu.force_stage": "1"]) { hw in
      hw.registers.poke(0x2808_1e10, .dword, at: 0x20)
    }
    #expect(f.probe() == .ENODEV)
    #expect(f.log.last == p + "\tno translation support!")
  }

  @Test("stream matching with NUMSMRG=0 is -ENODEV \"stream-matching supported, but no SMRs present!\"")
  func noSMRs() {
    let f = SMMUFixture { hw in hw.registers.poke(0x7808_1e00, .dword, at: 0x20) }
    #expect(f.probe() == .ENODEV)
    #expect(f.log.last == p + "stream-matching supported, but no SMRs present!")
    #expect(f.trace == [line("R", 0x20, 0x7808_1e00)])
  }

  @Test("more stage-2-only banks than banks is -ENODEV \"impossible number of S2 context banks!\"")
  func impossibleS2Banks() {
    let f = SMMUFixture { hw in hw.registers.poke(0x3009_0008, .dword, at: 0x24) }
    #expect(f.probe() == .ENODEV)
    #expect(f.log.last == p + "impossible number of S2 context banks!")
    #expect(f.trace == [line("R", 0x20, 0x7808_1e10), line("R", 0x24, 0x3009_0008)])
  }

  @Test("SMMUv2 with fewer context interrupts than banks is -ENODEV after reading ID0-ID2")
  func tooFewContextIRQs() {
    let f = SMMUFixture(irqCount: 5)
    #expect(f.probe() == .ENODEV)
    #expect(f.log.last == p + "found only 4 context irq(s) but 8 required")
    #expect(
      f.trace == [line("R", 0x20, 0x7808_1e10), line("R", 0x24, 0x3000_0008), line("R", 0x28, 0xd555)])
  }

  @Test("no context interrupt at all is -ENODEV through dev_err_probe, before any access")
  func noContextIRQ() {
    let f = SMMUFixture(irqCount: 1)
    #expect(f.probe() == .ENODEV)
    #expect(f.log == [p + "error -ENODEV: found 1 interrupts but expected at least 2"])
    #expect(f.trace.isEmpty)
  }

  @Test("a node without #global-interrupts is -ENODEV \"missing #global-interrupts property\"")
  func missingGlobalInterrupts() {
    let f = SMMUFixture(properties: [:])
    #expect(f.probe() == .ENODEV)
    #expect(f.log == [p + "error -ENODEV: missing #global-interrupts property"])
    #expect(f.trace.isEmpty)
  }

  @Test("the legacy mmu-masters binding is announced once and probes as an SMMU")
  func legacyBinding() {
    let f = SMMUFixture(properties: ["#global-interrupts": [1], "mmu-masters": [1, 0x10]])
    #expect(f.probe() == nil)
    #expect(
      f.log.first
        == "arm-smmu: deprecated \"mmu-masters\" DT property in use; SMMU support unavailable")
  }

  @Test("arm,smmu-v1 is probed as SMMUv1: no CBA2R, context IRQs not checked against banks")
  func smmuV1() {
    let f = SMMUFixture(configuration: .genericV1, compatible: "arm,smmu-v1", irqCount: 2)
    #expect(f.probe() == nil)
    #expect(f.log[1] == p + "SMMUv1 with:")
    #expect(f.log.contains(p + "\tStage-1: 40-bit VA -> 40-bit IPA"))
  }

  @Test("ID2 size codes map as arm_smmu_id_size_to_bits: 0..4 to 32..44, anything else 48")
  func idSizes() {
    let f = SMMUFixture { hw in hw.registers.poke(0x0000_1f73, .dword, at: 0x28) }
    #expect(f.probe() == nil)
    #expect(f.log.contains(p + "\tStage-1: 48-bit VA -> 42-bit IPA"))
    #expect(f.log.contains(p + "\tStage-2: 42-bit IPA -> 48-bit PA"))
  }

  @Test("an SMMU whose reads all return ones (off the bus) is -ENODEV: 255 banks, 8 context IRQs")
  func allOnesReads() {
    let f = SMMUFixture { hw in hw.registers.readsAllOnes = true }
    #expect(f.probe() == .ENODEV)
    #expect(
      f.log.contains(
        p + "SMMU address space size (0x2000000) differs from mapped region size (0x20000)!"))
    #expect(f.log.last == p + "found only 8 context irq(s) but 255 required")
    #expect(
      f.trace == [
        line("R", 0x20, 0xffff_ffff), line("R", 0x24, 0xffff_ffff), line("R", 0x28, 0xffff_ffff),
      ])
  }
}
