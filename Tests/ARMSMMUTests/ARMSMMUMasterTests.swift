import IOMMUModelTesting
import Testing

/// The master attach path the handover machine programs DMA with.
@Suite("arm_smmu_probe_device and attach")
struct ARMSMMUMasterTests {
  @Test("probe_device claims SMR0 for the stream (S2CR first, still FAULT), identity makes it BYPASS")
  func identity() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    f.traced.trace.removeAll()
    try f.driver.probeDevice(m)
    #expect(f.trace == [line("W", 0xc00, 0x0002_0000), line("W", 0x800, 0x8000_0010)])
    #expect(f.hw.route(streamID: 0x10, address: 0x1000, isWrite: true).isBlocked)
    try f.driver.attachIdentity(m)
    #expect(f.trace.last == line("W", 0xc00, 0x0001_0000))
    #expect(
      f.hw.route(streamID: 0x10, address: 0x1000, isWrite: true) == .bypassed(physical: 0x1000))
    try f.driver.attachBlocked(m)
    #expect(f.hw.route(streamID: 0x10, address: 0x1000, isWrite: true).isBlocked)
    #expect(f.core.suppliers(of: m).map(\.name) == [SMMUFixture.deviceName])
  }

  @Test("a paging domain writes the bank as arm_smmu_write_context_bank and translates mapped pages")
  func paging() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    try f.driver.probeDevice(m)
    f.traced.trace.removeAll()
    let domain = try f.driver.attachPaging(m)
    #expect(domain.cbndx == 0)
    let root = domain.pageTable.root
    #expect(
      f.trace == [
        line("W", 0x1800, 0x0000_0001),  // CBA2R0: VA64, VMID16 0
        line("W", 0x1000, 0x0001_f300),  // CBAR0: S1_TRANS_S2_BYPASS, WB, NSH
        line("W", 0x10010, 0x0003_8015),  // TCR2: SEP_UPSTREAM, AS, PASIZE 48-bit
        line("W", 0x10030, 0x0080_2010),  // TCR: EPD1, SH0 outer, non-cacheable walks, T0SZ 16
        "W64 0x10020 \(hex(root, digits: 16))",
        "W64 0x10028 0x0000000000000000",
        line("W", 0x10038, 0xf404_ff44),
        line("W", 0x1003c, 0),
        line("W", 0x10000, 0x0000_1067),  // SCTLR: ASIDPNE, CFIE, CFRE, AFE, TRE, M
        line("W", 0xc00, 0),  // S2CR0: TRANS to bank 0
      ])
    try domain.pageTable.map(iova: 0x10_0000, paddr: 0x8800_0000, size: 0x2000)
    #expect(
      f.hw.route(streamID: 0x10, address: 0x10_1008, isWrite: false)
        == .translated(physical: 0x8800_1008))
    #expect(f.hw.route(streamID: 0x10, address: 0x20_0000, isWrite: false).isBlocked)
    // The translation fault is latched in CB0_FSR.TF with the address in CB0_FAR.
    #expect(f.hw.registers.peek(.dword, at: 0x10058) == 0x2)
    #expect(f.hw.registers.peek(.qword, at: 0x10060) == 0x20_0000)
  }

  @Test("a read-only mapping refuses writes with a permission fault")
  func readOnly() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    try f.driver.probeDevice(m)
    let domain = try f.driver.attachPaging(m)
    try domain.pageTable.map(iova: 0x4000, paddr: 0x8800_0000, size: 0x1000, write: false)
    #expect(f.hw.route(streamID: 0x10, address: 0x4000, isWrite: true).isBlocked)
    #expect(f.hw.registers.peek(.dword, at: 0x10058) == 0x8)
  }

  @Test("a stream ID wider than the SMMU's is -EINVAL \"stream ID ... out of range\"")
  func streamIDOutOfRange() {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x8000])
    #expect(throws: Errno.EINVAL) { try f.driver.probeDevice(m) }
    #expect(f.log.last == "dma dma0: stream ID 0x8000 out of range for SMMU (0x7fff)")
  }

  @Test("two masters sharing a stream share its entry; release restores s2cr_init_val")
  func sharedEntry() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let a = f.master("dma0", streamIDs: [0x10])
    let b = f.master("dma1", streamIDs: [0x10])
    try f.driver.probeDevice(a)
    try f.driver.probeDevice(b)
    #expect(f.smmu?.s2crs[0].count == 2)
    try f.driver.releaseDevice(a)
    #expect(f.smmu?.smrs?[0].valid == true)
    f.traced.trace.removeAll()
    try f.driver.releaseDevice(b)
    #expect(f.trace == [line("W", 0xc00, 0x0002_0000), line("W", 0x800, 0x10)])
  }

  @Test("flush_iotlb_all on a stage-1 domain is TLBIASID then the bank's own sync")
  func flushAll() throws {
    let f = SMMUFixture()
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    try f.driver.probeDevice(m)
    _ = try f.driver.attachPaging(m)
    let second = f.master("dma1", streamIDs: [0x11])
    try f.driver.probeDevice(second)
    let domain = try f.driver.attachPaging(second)
    #expect(domain.cbndx == 1)
    f.traced.trace.removeAll()
    try f.driver.flushIOTLBAll(domain)
    #expect(
      f.trace == [
        line("W", 0x11610, 0x1), line("W", 0x117f0, 0xffff_ffff), line("R", 0x117f4, 1),
        line("R", 0x117f4, 0),
      ])
    #expect(f.hw.tlbInvalidations.last == "CB1 TLBIASID 0x1")
  }

  @Test("with force_stage=2 the domain is stage 2: VMID in CBA2R, VTCR, no TTBR1 or MAIRs, and the walk starts at SL0")
  func stage2() throws {
    let f = SMMUFixture(parameters: ["arm_smmu.force_stage": "2"])
    #expect(f.probe() == nil)
    let m = f.master("dma0", streamIDs: [0x10])
    try f.driver.probeDevice(m)
    f.traced.trace.removeAll()
    let domain = try f.driver.attachPaging(m)
    #expect(!domain.stage1)
    #expect(
      f.trace == [
        line("W", 0x1800, 0x0001_0001),  // CBA2R0: VMID16 1, VA64
        line("W", 0x1000, 0),  // CBAR0: S2_TRANS, VMID in CBA2R
        line("W", 0x10030, 0x8005_2090),  // VTCR: RES1, PS 48-bit, SH0 outer, SL0 2, T0SZ 16
        "W64 0x10020 \(hex(domain.pageTable.root, digits: 16))",
        line("W", 0x10000, 0x0000_0067),  // SCTLR: CFIE, CFRE, AFE, TRE, M
        line("W", 0xc00, 0),
      ])
    try domain.pageTable.map(iova: 0x7000, paddr: 0x8900_0000, size: 0x1000)
    #expect(
      f.hw.route(streamID: 0x10, address: 0x7abc, isWrite: true)
        == .translated(physical: 0x8900_0abc))
  }
}
