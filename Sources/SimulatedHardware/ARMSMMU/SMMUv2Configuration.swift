import MMIO

/// What an SMMUv1/v2 implementation reports in its ID registers, and the implementation
/// choices the architecture leaves open. The default is an Arm CoreLink MMU-500 with 8 context
/// banks and 16 stream match register groups.
///
/// Every ID register can be given outright (`--set ID0=...` does the same through the
/// backdoor); the derived layout (page size, number of pages, banks, groups) is read back from
/// them, so a configuration always describes a register file the driver can walk.
public struct SMMUv2Configuration: Sendable, Hashable {
  /// SMMU_IDR0..IDR2 and IDR7 as read by software.
  public var id0: UInt32
  public var id1: UInt32
  public var id2: UInt32
  public var id7: UInt32
  /// Reset value of sACR (implementation defined; MMU-500 keeps CACHE_LOCK at bit 26).
  public var sACRReset: UInt32
  /// Reset value of every S2CR (implementation defined; the model resets them to FAULT).
  public var s2crReset: UInt32
  /// Reset value of every context bank's ACTLR (MMU-500: CPRE b1 and CMTLB b0 set).
  public var actlrReset: UInt32
  /// SMR ID bits the silicon implements (what `arm_smmu_test_smr_masks()` discovers).
  public var smrIDBits: UInt16
  /// SMR MASK bits the silicon implements.
  public var smrMaskBits: UInt16
  /// How many reads of sTLBGSTATUS / TLBSTATUS still show the sync as active after a sync
  /// is started: the busy phase.
  public var tlbSyncBusyReads: Int

  public init(
    id0: UInt32, id1: UInt32, id2: UInt32, id7: UInt32, sACRReset: UInt32 = 0,
    s2crReset: UInt32 = 0x0002_0000, actlrReset: UInt32 = 0x3, smrIDBits: UInt16 = 0x7fff,
    smrMaskBits: UInt16 = 0x7fff, tlbSyncBusyReads: Int = 1
  ) {
    self.id0 = id0
    self.id1 = id1
    self.id2 = id2
    self.id7 = id7
    self.sACRReset = sACRReset
    self.s2crReset = s2crReset
    self.actlrReset = actlrReset
    self.smrIDBits = smrIDBits
    self.smrMaskBits = smrMaskBits
    self.tlbSyncBusyReads = tlbSyncBusyReads
  }

  /// Arm CoreLink MMU-500 r2p1: stage 1, stage 2 and nested translation, stream matching with
  /// 16 groups, 15-bit stream IDs, 8 context banks on 4 KiB pages (16 global pages), 48-bit
  /// IAS/OAS/UBS, 16-bit VMIDs, AArch64 4 KiB and 64 KiB granules.
  public static let mmu500 = SMMUv2Configuration(
    id0: 0x7808_1e10, id1: 0x3000_0008, id2: 0x0000_d555, id7: 0x0000_0021)

  /// A generic SMMUv2 with the same shape (no implementation-specific registers used).
  public static let genericV2 = mmu500

  /// A generic SMMUv1 (MMU-400-like): stage 1 and 2, 8 groups, 4 context banks, 40-bit
  /// addresses, no AArch64 granules.
  public static let genericV1 = SMMUv2Configuration(
    id0: 0x6804_1e08, id1: 0x1000_0004, id2: 0x0000_0022, id7: 0)

  // MARK: Layout derived from the ID registers

  /// ID1.PAGESIZE: 64 KiB register pages when set, else 4 KiB.
  public var pageShift: Int { id1[bit: 31] ? 16 : 12 }
  /// Global register pages: 2^(ID1.NUMPAGENDXB + 1). Context banks start at this page.
  public var numPages: Int { 1 << (Int(id1[bits: 28...30]) + 1) }
  /// ID1.NUMCB.
  public var numContextBanks: Int { Int(id1[bits: 0...7]) }
  /// ID0.SMS.
  public var streamMatching: Bool { id0[bit: 27] }
  /// ID0.NUMSMRG.
  public var numSMRGroups: Int { Int(id0[bits: 0...7]) }
  /// Stream-to-context registers the register map holds: one per SMR group with stream
  /// matching, else one per stream ID (at most the 256 that fit before 0x1000).
  public var numS2CRs: Int {
    streamMatching ? numSMRGroups : min(1 << Int(id0[bits: 9...12]), 256)
  }
  /// SMMU_TOP: the size of the whole register space, global half plus context bank half.
  public var registerSpaceSize: Int { 2 * numPages << pageShift }
  /// Offset of context bank `n`.
  public func contextBankOffset(_ n: Int) -> Int { (numPages + n) << pageShift }
  /// Offset of global register page 1 (CBAR, CBFRSYNRA, CBA2R).
  public var gr1Offset: Int { 1 << pageShift }
}
