import IOMMUModelTesting
import IntelIOMMU
import SimulatedHardware
import Testing

@Suite("Boot from random leftover hardware states")
struct RandomStateTests {
  /// A small deterministic generator (SplitMix64), so a failure names its seed.
  struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9e37_79b9_7f4a_7c15
      var z = state
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      return z ^ (z >> 31)
    }
  }

  @Test(
    "whatever GSTS, FSTS and RTADDR a previous kernel left, a boot ends in one of the kernel's outcomes",
    arguments: 1...40)
  func randomLeftovers(seed: UInt64) {
    var rng = SplitMix(state: seed)
    let machine = IntelVTdMachine()
    let statusBits: [UInt32] = [0x8000_0000, 0x4000_0000, 0x0400_0000, 0x0200_0000, 0x0100_0000, 0x0080_0000]
    let gsts = statusBits.filter { _ in Bool.random(using: &rng) }.reduce(0, |)
    let fsts: UInt32 = [0, 0x2, 0x10, 0x12].randomElement(using: &rng) ?? 0
    let root: UInt64 = [0, 0x0300_0000, 0x8000_0000_0000].randomElement(using: &rng) ?? 0
    let rtaddr = root | (Bool.random(using: &rng) ? 1 << 10 : 0)
    machine.unit.registers.poke(UInt64(gsts), .dword, at: 0x1c)
    machine.unit.registers.poke(UInt64(fsts), .dword, at: 0x34)
    machine.unit.registers.poke(rtaddr, .qword, at: 0x20)
    let kdump = Bool.random(using: &rng)
    let variant = IntelIOMMUVariant.allCases.randomElement(using: &rng) ?? .kernel
    let clock = SimulatedClock()
    clock.busyWaitStepNanoseconds = 1_000_000_000
    let boot = machine.kernel(kdump: kdump, variant: variant, clock: clock)
    let outcome = boot.driver.run(X86BootStep.boot + [.shutdown])
    if let fatal = outcome.fatal {
      #expect(
        [
          "DMAR hardware is malfunctioning", "DMAR: dmar0: queued invalidation never completed",
        ].contains(fatal.message), "seed \(seed): \(fatal)")
      #expect(boot.log.last == fatal.consoleLine || fatal.kind == .hang)
    } else {
      #expect(outcome.initResult == nil, "seed \(seed)")
      // intel_iommu_shutdown() ran last: translation is off, whatever was inherited, except
      // under kernel-list, which leaves it as the boot set it (on).
      #expect(machine.unit.translationEnabled == (variant == .kernelList), "seed \(seed)")
    }
  }
}
