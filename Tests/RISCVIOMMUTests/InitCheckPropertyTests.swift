import IOMMUModelTesting
import Testing

/// SplitMix64: a seeded generator, so a failing case can be replayed.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
}

@Suite("init_check over random register states")
struct InitCheckPropertyTests {
  /// The Linux 7.2 outcome computed from the rules alone (kernel-facts §4.2, §4.5), for the
  /// `kernel` policy on riscv-iommu-pci with a little-endian CPU and four MSI-X vectors.
  static func oracle(cap: UInt64, fctl: UInt32, ddtp: UInt64, kdump: Bool, beWritable: Bool) -> Errno? {
    let igs = (cap >> 28) & 3
    if igs != 0 && igs != 2 { return .ENODEV }
    if ddtp & 0x10 != 0 { return .EBUSY }
    if ddtp & 0xf > 1 && !kdump { return .EBUSY }
    if fctl & 1 != 0 {
      if cap & (1 << 27) == 0 { return .EINVAL }
      if !beWritable { return .EINVAL }
    }
    return nil
  }

  @Test("for 400 random CAPABILITIES/FCTL/DDTP/ICVEC states init_check never traps and agrees with the rules")
  func randomStates() {
    var rng = SplitMix64(state: 0x5eed_2026)
    for i in 0..<400 {
      var config = RISCVIOMMUConfiguration.qemuPCI
      config.bothEndian = Bool.random(using: &rng)
      config.bigEndianWritable = Bool.random(using: &rng)
      config.interruptGeneration = RISCVIOMMUConfiguration.InterruptGeneration.allCases.randomElement(using: &rng)!
      let kdump = Bool.random(using: &rng)
      let bed = RISCVIOMMUTestbed(kdump: kdump, configuration: config)
      // Random raw values, biased so every branch is reached often.
      var ddtp = UInt64.random(in: 0...UInt64.max, using: &rng)
      if Bool.random(using: &rng) { ddtp &= ~0x10 }
      let fctl = UInt32.random(in: 0...7, using: &rng)
      bed.poke("DDTP", ddtp)
      bed.poke("FCTL", UInt64(fctl))
      bed.poke("ICVEC", UInt64.random(in: 0...0xffff, using: &rng))
      let result = bed.checkInit()
      let expected = Self.oracle(
        cap: config.capabilities, fctl: fctl, ddtp: ddtp, kdump: kdump, beWritable: config.bigEndianWritable)
      #expect(result == expected, "case \(i): ddtp \(hex(ddtp)) fctl \(fctl) kdump \(kdump)")
      #expect([nil, .EBUSY, .EINVAL, .ENODEV].contains(result))
    }
  }

  @Test(
    "for random states and every policy the result is one of the kernel's outcomes",
    arguments: RISCVIOMMUPolicy.allCases)
  func randomStatesEveryPolicy(policy: RISCVIOMMUPolicy) {
    var rng = SplitMix64(state: 0xfeed ^ UInt64(policy.rawValue.count))
    for _ in 0..<150 {
      var faults = RISCVIOMMUFaultInjection()
      faults.readsAllOnes = UInt8.random(in: 0...15, using: &rng) == 0
      let bed = RISCVIOMMUTestbed(kdump: Bool.random(using: &rng), policy: policy, faultInjection: faults)
      bed.poke("DDTP", UInt64.random(in: 0...UInt64.max, using: &rng))
      bed.poke("FCTL", UInt64.random(in: 0...7, using: &rng))
      bed.poke("CQCSR", UInt64(UInt32.random(in: 0...UInt32.max, using: &rng)))
      #expect([nil, .EBUSY, .EINVAL, .ENODEV].contains(bed.checkInit()))
    }
  }
}
