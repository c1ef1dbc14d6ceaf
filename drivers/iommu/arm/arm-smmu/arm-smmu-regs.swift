import MMIO

// Register map of drivers/iommu/arm/arm-smmu/arm-smmu.h (Linux 7.2): offsets and bits the
// driver uses, under the kernel's names in Swift case.

/// Global register space 0 (`ARM_SMMU_GR0_*`).
public enum GR0 {
  public static let sCR0 = 0x0
  public static let sACR = 0x10
  public static let ID0 = 0x20
  public static let ID1 = 0x24
  public static let ID2 = 0x28
  public static let ID7 = 0x3c
  public static let sGFSR = 0x48
  public static let sGFSYNR0 = 0x50
  public static let sGFSYNR1 = 0x54
  public static let sGFSYNR2 = 0x58
  public static let TLBIVMID = 0x64
  public static let TLBIALLNSNH = 0x68
  public static let TLBIALLH = 0x6c
  public static let sTLBGSYNC = 0x70
  public static let sTLBGSTATUS = 0x74
  public static func SMR(_ n: Int) -> Int { 0x800 + (n << 2) }
  public static func S2CR(_ n: Int) -> Int { 0xc00 + (n << 2) }
}

/// Global register space 1 (`ARM_SMMU_GR1_*`).
public enum GR1 {
  public static func CBAR(_ n: Int) -> Int { n << 2 }
  public static func CBFRSYNRA(_ n: Int) -> Int { 0x400 + (n << 2) }
  public static func CBA2R(_ n: Int) -> Int { 0x800 + (n << 2) }
}

/// Context bank registers (`ARM_SMMU_CB_*`), relative to the bank's page.
public enum CB {
  public static let SCTLR = 0x0
  public static let ACTLR = 0x4
  public static let TCR2 = 0x10
  public static let TTBR0 = 0x20
  public static let TTBR1 = 0x28
  public static let TCR = 0x30
  public static let CONTEXTIDR = 0x34
  public static let S1_MAIR0 = 0x38
  public static let S1_MAIR1 = 0x3c
  public static let FSR = 0x58
  public static let S1_TLBIASID = 0x610
  public static let TLBSYNC = 0x7f0
  public static let TLBSTATUS = 0x7f4
}

/// `ARM_SMMU_sCR0_*`.
public enum SCR0 {
  public static let VMID16EN: UInt32 = 1 << 31
  public static let BSU: UInt32 = 0b11 << 14
  public static let FB: UInt32 = 1 << 13
  public static let PTM: UInt32 = 1 << 12
  public static let VMIDPNE: UInt32 = 1 << 11
  public static let USFCFG: UInt32 = 1 << 10
  public static let GCFGFIE: UInt32 = 1 << 5
  public static let GCFGFRE: UInt32 = 1 << 4
  public static let EXIDENABLE: UInt32 = 1 << 3
  public static let GFIE: UInt32 = 1 << 2
  public static let GFRE: UInt32 = 1 << 1
  public static let CLIENTPD: UInt32 = 1 << 0
}

/// `ARM_SMMU_ID0_*`.
public enum ID0 {
  public static let S1TS: UInt32 = 1 << 30
  public static let S2TS: UInt32 = 1 << 29
  public static let NTS: UInt32 = 1 << 28
  public static let SMS: UInt32 = 1 << 27
  public static let ATOSNS: UInt32 = 1 << 26
  public static let PTFS_NO_AARCH32: UInt32 = 1 << 25
  public static let PTFS_NO_AARCH32S: UInt32 = 1 << 24
  public static let NUMIRPT = 16...23
  public static let CTTW: UInt32 = 1 << 14
  public static let NUMSIDB = 9...12
  public static let EXIDS: UInt32 = 1 << 8
  public static let NUMSMRG = 0...7
}

/// `ARM_SMMU_ID1_*`.
public enum ID1 {
  public static let PAGESIZE: UInt32 = 1 << 31
  public static let NUMPAGENDXB = 28...30
  public static let NUMS2CB = 16...23
  public static let NUMCB = 0...7
}

/// `ARM_SMMU_ID2_*`.
public enum ID2 {
  public static let VMID16: UInt32 = 1 << 15
  public static let PTFS_64K: UInt32 = 1 << 14
  public static let PTFS_16K: UInt32 = 1 << 13
  public static let PTFS_4K: UInt32 = 1 << 12
  public static let UBS = 8...11
  public static let OAS = 4...7
  public static let IAS = 0...3
}

/// `ARM_SMMU_ID7_*`.
public enum ID7 {
  public static let MAJOR = 4...7
  public static let MINOR = 0...3
}

public let ARM_SMMU_sGFSR_USF: UInt32 = 1 << 1
public let ARM_SMMU_sTLBGSTATUS_GSACTIVE: UInt32 = 1 << 0

/// `ARM_SMMU_SMR_*`.
public enum SMRBits {
  public static let VALID: UInt32 = 1 << 31
  public static let MASK = 16...31
  public static let ID = 0...15
}

/// `ARM_SMMU_S2CR_*`.
public enum S2CRBits {
  public static let PRIVCFG = 24...25
  public static let TYPE = 16...17
  public static let EXIDVALID: UInt32 = 1 << 10
  public static let CBNDX = 0...7
}

/// `enum arm_smmu_s2cr_type`.
public enum S2CRType: UInt32, Sendable, Hashable, CustomStringConvertible {
  case trans = 0
  case bypass = 1
  case fault = 2
  public var description: String {
    switch self {
    case .trans: "TRANS"
    case .bypass: "BYPASS"
    case .fault: "FAULT"
    }
  }
}

/// `enum arm_smmu_cbar_type`.
public enum CBARType: UInt32, Sendable, Hashable {
  case s2Trans = 0
  case s1TransS2Bypass = 1
  case s1TransS2Fault = 2
  case s1TransS2Trans = 3
}

/// `ARM_SMMU_CBAR_*`, `ARM_SMMU_CBA2R_*`, `ARM_SMMU_SCTLR_*`, `ARM_SMMU_TCR*`.
public enum CBBits {
  public static let CBAR_TYPE = 16...17
  public static let CBAR_S1_MEMATTR = 12...15
  public static let CBAR_S1_MEMATTR_WB: UInt32 = 0xf
  public static let CBAR_S1_BPSHCFG = 8...9
  public static let CBAR_S1_BPSHCFG_NSH: UInt32 = 3
  public static let CBAR_VMID = 0...7
  public static let CBA2R_VMID16 = 16...31
  public static let CBA2R_VA64: UInt32 = 1 << 0
  public static let SCTLR_S1_ASIDPNE: UInt32 = 1 << 12
  public static let SCTLR_CFIE: UInt32 = 1 << 6
  public static let SCTLR_CFRE: UInt32 = 1 << 5
  public static let SCTLR_E: UInt32 = 1 << 4
  public static let SCTLR_AFE: UInt32 = 1 << 2
  public static let SCTLR_TRE: UInt32 = 1 << 1
  public static let SCTLR_M: UInt32 = 1 << 0
  public static let TCR2_SEP = 15...17
  public static let TCR2_SEP_UPSTREAM: UInt32 = 0x7
  public static let TCR2_AS: UInt32 = 1 << 4
  public static let TCR2_PASIZE = 0...3
  public static let TCR_EPD1: UInt32 = 1 << 23
  public static let TCR_TG0 = 14...15
  public static let TCR_SH0 = 12...13
  public static let TCR_ORGN0 = 10...11
  public static let TCR_IRGN0 = 8...9
  public static let TCR_T0SZ = 0...5
  public static let TTBRn_ASID = 48...63
}

/// `ARM_SMMU_CB_FSR_FAULT`: every fault bit of CB_FSR (MULTI, SS, UUT, EF, PF, TF and the
/// ignorable AFF, ASF, TLBMCF, TLBLKF).
public let ARM_SMMU_CB_FSR_FAULT: UInt32 = 0xc000_01fe

/// `TLB_LOOP_TIMEOUT` (1 s, in microseconds) and `TLB_SPIN_COUNT`.
public let TLB_LOOP_TIMEOUT: UInt64 = 1_000_000
public let TLB_SPIN_COUNT = 10

/// `ARM_SMMU_MAX_CBS`.
public let ARM_SMMU_MAX_CBS = 128

/// `QCOM_DUMMY_VAL` (-1): the non-zero value written to sync and invalidate registers.
public let QCOM_DUMMY_VAL: UInt32 = 0xffff_ffff

/// `enum arm_smmu_arch_version`.
public enum ARMSMMUArchVersion: Sendable, Hashable, Comparable {
  case v1
  case v1_64K
  case v2
}

/// `enum arm_smmu_implementation`.
public enum ARMSMMUImplementation: Sendable, Hashable {
  case genericSMMU
  case armMMU500
  case caviumSMMUv2
  case qcomSMMUv2
}

/// `ARM_SMMU_FEAT_*`.
public struct ARMSMMUFeatures: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let coherentWalk = Self(rawValue: 1 << 0)
  public static let streamMatch = Self(rawValue: 1 << 1)
  public static let transS1 = Self(rawValue: 1 << 2)
  public static let transS2 = Self(rawValue: 1 << 3)
  public static let transNested = Self(rawValue: 1 << 4)
  public static let transOps = Self(rawValue: 1 << 5)
  public static let vmid16 = Self(rawValue: 1 << 6)
  public static let fmtAArch64_4K = Self(rawValue: 1 << 7)
  public static let fmtAArch64_16K = Self(rawValue: 1 << 8)
  public static let fmtAArch64_64K = Self(rawValue: 1 << 9)
  public static let fmtAArch32_L = Self(rawValue: 1 << 10)
  public static let fmtAArch32_S = Self(rawValue: 1 << 11)
  public static let exids = Self(rawValue: 1 << 12)
}
