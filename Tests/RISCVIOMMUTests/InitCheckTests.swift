import IOMMUModelTesting
import Testing

/// The accesses every init_check run on riscv-iommu-pci starts with: the PCI probe's reads.
let probePreamble = ["R64 0x0000 0x00000078c2cf0f10", "R32 0x0008 0x00000000"]
/// init_check's ICVEC programming with four vectors (CIV 0, FIV 1, PMIV 3, PIV 2).
let icvecLines = ["W64 0x02f8 0x0000000000002310", "R64 0x02f8 0x0000000000002310"]
/// riscv_iommu_disable() as Linux 7.2 writes it: DDTP := BARE, then the three queue CSRs := 0.
let disableToBare = [
  "W64 0x0010 0x0000000000000001", "W32 0x0048 0x00000000", "W32 0x004c 0x00000000", "W32 0x0050 0x00000000",
]
let enabling = "iommu_pci 0000:00:01.0: enabling device (0000 -> 0002)"
/// The `kernel-list` take-over of a DDTP left translating: the old queues stopped, then DDTP :=
/// OFF with the PPN kept.
func blockHandoverLines(_ ddtp: UInt64) -> [String] {
  [
    "W32 0x0048 0x00000000", "W32 0x004c 0x00000000", "W32 0x0050 0x00000000",
    MMIOAccess(.write, .qword, offset: 0x10, value: ddtp & 0x003f_ffff_ffff_fc00).description,
  ]
}
let blockedLine = "iommu_pci 0000:00:01.0: translation left on by the previous kernel, all DMA blocked (DDTP OFF)"

func ddtpRead(_ value: UInt64) -> String { MMIOAccess(.read, .qword, offset: 0x10, value: value).description }

func failedProbe(_ e: Errno) -> [String] {
  [
    enabling, "iommu_pci 0000:00:01.0: error \(e): unexpected device state",
    "iommu_pci 0000:00:01.0: probe with driver iommu_pci failed with error \(e.returnValue)",
  ]
}

@Suite("riscv_iommu_init_check: every branch, as Linux 7.2 takes it")
struct InitCheckTests {
  @Test("an IOMMU left in OFF passes with ICVEC programmed and read back")
  func offPasses() {
    let bed = RISCVIOMMUTestbed()
    #expect(bed.checkInit() == nil)
    #expect(bed.log == [enabling])
    #expect(bed.trace.lines == probePreamble + [ddtpRead(0)] + icvecLines)
  }

  @Test("DDTP.BUSY set gives -EBUSY after one DDTP read, kdump or not")
  func busy() {
    for kdump in [false, true] {
      let bed = RISCVIOMMUTestbed(kdump: kdump)
      bed.poke("DDTP", 0x10)
      #expect(bed.checkInit() == .EBUSY)
      #expect(bed.log == failedProbe(.EBUSY))
      #expect(bed.trace.lines == probePreamble + [ddtpRead(0x10)])
    }
  }

  @Test("a translating DDTP outside kdump is refused with -EBUSY and no write")
  func translatingOutsideKdump() {
    let bed = RISCVIOMMUTestbed()
    bed.poke("DDTP", 0x20e1_b404)
    #expect(bed.checkInit() == .EBUSY)
    #expect(bed.log == failedProbe(.EBUSY))
    #expect(bed.trace.lines == probePreamble + [ddtpRead(0x20e1_b404)])
  }

  @Test("a translating DDTP in kdump is disabled to BARE and the check passes")
  func translatingInKdump() {
    let bed = RISCVIOMMUTestbed(kdump: true)
    bed.poke("DDTP", 0x20e1_b404)
    #expect(bed.checkInit() == nil)
    #expect(bed.log == [enabling])
    #expect(bed.trace.lines == probePreamble + [ddtpRead(0x20e1_b404)] + disableToBare + icvecLines)
    #expect(bed.hardware.ddtMode == .bare)
  }

  /// The expected result of each DDTP.MODE (0...15) for each policy, kdump or not.
  enum Outcome: Equatable {
    case passes
    case disablesThenPasses
    case blocksThenPasses
    case refused
  }

  static func expected(_ policy: RISCVIOMMUPolicy, mode: UInt64, kdump: Bool) -> Outcome {
    switch policy {
    case .kernel: return mode <= 1 ? .passes : (kdump ? .disablesThenPasses : .refused)
    case .blockingHandover: return kdump ? (mode == 0 ? .passes : .refused) : (mode <= 1 ? .passes : .refused)
    case .refuse: return mode <= 1 ? .passes : .refused
    case .kernelList: return mode <= 1 ? .passes : .blocksThenPasses
    }
  }

  @Test(
    "each DDTP.MODE, in and out of kdump, for each policy: errno, log and exact trace",
    arguments: RISCVIOMMUPolicy.allCases, [false, true])
  func everyMode(policy: RISCVIOMMUPolicy, kdump: Bool) {
    for mode in UInt64(0)...15 {
      let bed = RISCVIOMMUTestbed(kdump: kdump, policy: policy)
      let ddtp = mode | (mode > 1 ? 0x20e1_b400 : 0)
      bed.poke("DDTP", ddtp)
      let result = bed.checkInit()
      let head = probePreamble + [ddtpRead(ddtp)]
      switch Self.expected(policy, mode: mode, kdump: kdump) {
      case .passes:
        #expect(result == nil, "mode \(mode)")
        #expect(bed.log == [enabling])
        #expect(bed.trace.lines == head + icvecLines, "mode \(mode)")
      case .disablesThenPasses:
        #expect(result == nil, "mode \(mode)")
        #expect(bed.log == [enabling])
        #expect(bed.trace.lines == head + disableToBare + icvecLines, "mode \(mode)")
      case .blocksThenPasses:
        #expect(result == nil, "mode \(mode)")
        #expect(bed.log == [enabling, blockedLine])
        #expect(bed.trace.lines == head + blockHandoverLines(ddtp) + icvecLines, "mode \(mode)")
      case .refused:
        #expect(result == .EBUSY, "mode \(mode)")
        #expect(bed.log == failedProbe(.EBUSY))
        #expect(bed.trace.lines == head, "mode \(mode)")
      }
    }
  }

  @Test("FCTL.BE differing from the CPU without CAPABILITIES.END gives -EINVAL before any write")
  func bigEndianWithoutEND() {
    let bed = RISCVIOMMUTestbed()
    bed.poke("FCTL", 0x1)
    #expect(bed.checkInit() == .EINVAL)
    #expect(bed.log == failedProbe(.EINVAL))
    #expect(bed.trace.lines == [probePreamble[0], "R32 0x0008 0x00000001", ddtpRead(0)])
  }

  @Test("FCTL.BE differing from the CPU with CAPABILITIES.END is toggled and read back")
  func bigEndianToggled() {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.bothEndian = true
    let bed = RISCVIOMMUTestbed(configuration: config)
    bed.poke("FCTL", 0x1)
    #expect(bed.checkInit() == nil)
    #expect(
      bed.trace.lines == [
        "R64 0x0000 0x00000078cacf0f10", "R32 0x0008 0x00000001", ddtpRead(0), "W32 0x0008 0x00000000",
        "R32 0x0008 0x00000000",
      ] + icvecLines)
  }

  @Test("FCTL.BE that does not change although END is set gives -EINVAL after the read-back")
  func bigEndianStuck() {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.bothEndian = true
    config.bigEndianWritable = false
    let bed = RISCVIOMMUTestbed(configuration: config)
    bed.poke("FCTL", 0x1)
    #expect(bed.checkInit() == .EINVAL)
    #expect(bed.log == failedProbe(.EINVAL))
    #expect(
      bed.trace.lines == [
        "R64 0x0000 0x00000078cacf0f10", "R32 0x0008 0x00000001", ddtpRead(0), "W32 0x0008 0x00000000",
        "R32 0x0008 0x00000001",
      ])
  }

  @Test("a big-endian kernel on a little-endian-only IOMMU gives -EINVAL")
  func bigEndianKernel() {
    let bed = RISCVIOMMUTestbed()
    bed.kernel.context.config.cpuBigEndian = true
    #expect(bed.checkInit() == .EINVAL)
    #expect(bed.trace.lines == probePreamble + [ddtpRead(0)])
  }

  @Test("ICVEC fields the hardware clamps below the vector count are accepted")
  func icvecClamped() {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.maxInterruptVector = 1
    let bed = RISCVIOMMUTestbed(configuration: config)
    #expect(bed.checkInit() == nil)
    #expect(
      bed.trace.lines == probePreamble + [
        ddtpRead(0), "W64 0x02f8 0x0000000000002310", "R64 0x02f8 0x0000000000001110",
      ])
    #expect(bed.iommu?.icvec == 0x1110)
  }

  @Test("an ICVEC read-back naming a vector the kernel did not get gives -EINVAL")
  func icvecOutOfRange() {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.fixedInterruptVectors = 0x3210  // one hard-wired vector per cause
    config.msixVectors = 2
    let bed = RISCVIOMMUTestbed(configuration: config)
    #expect(bed.checkInit() == .EINVAL)
    #expect(bed.log == failedProbe(.EINVAL))
    #expect(
      bed.trace.lines == probePreamble + [
        ddtpRead(0), "W64 0x02f8 0x0000000000000110", "R64 0x02f8 0x0000000000003210",
      ])
  }

  @Test("a function whose reads return all ones is refused by the PCI probe for its IGS")
  func allOnes() {
    var faults = RISCVIOMMUFaultInjection()
    faults.readsAllOnes = true
    let bed = RISCVIOMMUTestbed(faultInjection: faults)
    #expect(bed.checkInit() == .ENODEV)
    #expect(bed.log == [enabling, "iommu_pci 0000:00:01.0: error -ENODEV: unable to use message-signaled interrupts"])
    #expect(bed.trace.lines == ["R64 0x0000 0xffffffffffffffff", "R32 0x0008 0xffffffff"])
  }

  @Test("an IOMMU that only signals wired interrupts cannot be driven over PCI")
  func wiredOnlyOverPCI() {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.interruptGeneration = .wsi
    let bed = RISCVIOMMUTestbed(configuration: config)
    #expect(bed.checkInit() == .ENODEV)
    #expect(bed.log.last == "iommu_pci 0000:00:01.0: error -ENODEV: unable to use message-signaled interrupts")
  }
}
