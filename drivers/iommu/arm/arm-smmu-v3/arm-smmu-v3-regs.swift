import MMIO

// Register map, bit fields and constants of drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (Linux 7.2).

/// `ARM_SMMU_*` register offsets. EVTQ/PRIQ PROD and CONS are page-1 offsets (`smmu->page1 + ...`).
enum Reg {
  static let IDR0 = 0x0
  static let IDR1 = 0x4
  static let IDR3 = 0xc
  static let IDR5 = 0x14
  static let IIDR = 0x18
  static let CR0 = 0x20
  static let CR0ACK = 0x24
  static let CR1 = 0x28
  static let CR2 = 0x2c
  static let GBPA = 0x44
  static let IRQ_CTRL = 0x50
  static let IRQ_CTRLACK = 0x54
  static let GERROR = 0x60
  static let GERRORN = 0x64
  static let GERROR_IRQ_CFG0 = 0x68
  static let STRTAB_BASE = 0x80
  static let STRTAB_BASE_CFG = 0x88
  static let CMDQ_BASE = 0x90
  static let CMDQ_PROD = 0x98
  static let CMDQ_CONS = 0x9c
  static let EVTQ_BASE = 0xa0
  static let EVTQ_PROD = 0xa8
  static let EVTQ_CONS = 0xac
  static let EVTQ_IRQ_CFG0 = 0xb0
  static let PRIQ_BASE = 0xc0
  static let PRIQ_PROD = 0xc8
  static let PRIQ_CONS = 0xcc
  static let PRIQ_IRQ_CFG0 = 0xd0
}

enum IDR0 {
  static let ST_LVL = 27...28
  static let ST_LVL_2LVL: UInt32 = 1
  static let STALL_MODEL = 24...25
  static let STALL_MODEL_STALL: UInt32 = 0
  static let STALL_MODEL_FORCE: UInt32 = 2
  static let TTENDIAN = 21...22
  static let TTENDIAN_MIXED: UInt32 = 0
  static let TTENDIAN_LE: UInt32 = 2
  static let TTENDIAN_BE: UInt32 = 3
  static let CD2L = 19
  static let VMID16 = 18
  static let PRI = 16
  static let SEV = 14
  static let MSI = 13
  static let ASID16 = 12
  static let ATS = 10
  static let HYP = 9
  static let HTTU = 6...7
  static let COHACC = 4
  static let TTF = 2...3
  static let TTF_AARCH64: UInt32 = 2
  static let TTF_AARCH32_64: UInt32 = 3
  static let S1P = 1
  static let S2P = 0
}

enum IDR1 {
  static let TABLES_PRESET = 30
  static let QUEUES_PRESET = 29
  static let REL = 28
  static let ATTR_TYPES_OVR = 27
  static let CMDQS = 21...25
  static let EVTQS = 16...20
  static let PRIQS = 11...15
  static let SSIDSIZE = 6...10
  static let SIDSIZE = 0...5
}

enum IDR3 {
  static let FWB = 8
  static let RIL = 10
  static let BBM = 11...12
}

enum IDR5 {
  static let STALL_MAX = 16...31
  static let GRAN64K = 6
  static let GRAN16K = 5
  static let GRAN4K = 4
  static let VAX = 10...11
  static let OAS = 0...2
}

enum CR0 {
  static let ATSCHK: UInt32 = 1 << 4
  static let CMDQEN: UInt32 = 1 << 3
  static let EVTQEN: UInt32 = 1 << 2
  static let PRIQEN: UInt32 = 1 << 1
  static let SMMUEN: UInt32 = 1 << 0
}

/// CR1 memory attributes: `ARM_SMMU_SH_ISH` and `CR1_CACHE_WB`.
enum CR1 {
  static let TABLE_SH = 10...11
  static let TABLE_OC = 8...9
  static let TABLE_IC = 6...7
  static let QUEUE_SH = 4...5
  static let QUEUE_OC = 2...3
  static let QUEUE_IC = 0...1
  static let CACHE_WB: UInt32 = 1
  static let SH_ISH: UInt32 = 3
}

enum CR2 {
  static let PTM: UInt32 = 1 << 2
  static let RECINVSID: UInt32 = 1 << 1
  static let E2H: UInt32 = 1 << 0
}

enum GBPA {
  static let UPDATE: UInt32 = 1 << 31
  static let ABORT: UInt32 = 1 << 20
}

enum IRQCtrl {
  static let EVTQ_IRQEN: UInt32 = 1 << 2
  static let PRIQ_IRQEN: UInt32 = 1 << 1
  static let GERROR_IRQEN: UInt32 = 1 << 0
}

enum GError {
  static let SFM_ERR: UInt32 = 1 << 8
  static let ERR_MASK: UInt32 = 0x1fd
}

enum Strtab {
  static let BASE_RA: UInt64 = 1 << 62
  static let BASE_ADDR_MASK = UInt64.mask(6...51)
  static let CFG_FMT = 16...17
  static let CFG_FMT_LINEAR: UInt32 = 0
  static let CFG_FMT_2LVL: UInt32 = 1
  static let CFG_SPLIT = 6...10
  static let CFG_LOG2SIZE = 0...5
  /// `STRTAB_SPLIT`: each L2 table covers 256 stream IDs (a PCI bus).
  static let SPLIT: UInt32 = 8
  /// `STRTAB_MAX_L1_ENTRIES`.
  static let MAX_L1_ENTRIES: UInt32 = 1 << 17
  static let L1_DESC_SPAN = 0...4
  static let L1_DESC_L2PTR_MASK = UInt64.mask(6...51)
  static let STE_DWORDS = 8
  static let NUM_L2_STES = 1 << SPLIT
}

/// Queue base register fields and sizes (`Q_BASE_*`, `*_ENT_DWORDS`).
enum Queue {
  static let BASE_RWA: UInt64 = 1 << 62
  static let BASE_ADDR_MASK = UInt64.mask(5...51)
  static let BASE_LOG2SIZE = 0...4
  /// `Q_MAX_SZ_SHIFT` = PAGE_SHIFT + CONFIG_CMA_ALIGNMENT (8 in Debian's arm64 kernels).
  static let MAX_SZ_SHIFT: UInt32 = 12 + 8
  static let CMDQ_ENT_DWORDS = 2
  static let EVTQ_ENT_DWORDS = 4
  static let PRIQ_ENT_DWORDS = 2
  static let OVERFLOW_FLAG: UInt32 = 1 << 31
  /// `CMDQ_BATCH_ENTRIES` (BITS_PER_LONG).
  static let CMDQ_BATCH_ENTRIES = 64
}

/// `ARM_SMMU_POLL_TIMEOUT_US` and `ARM_SMMU_POLL_SPIN_COUNT`.
let ARM_SMMU_POLL_TIMEOUT_US: UInt64 = 1_000_000
let ARM_SMMU_POLL_SPIN_COUNT = 10

/// `ARM_SMMU_FEAT_*`, as the probe's "features 0x%08x" line prints them.
public struct ARMSMMUv3Features: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let twoLevelStrtab = Self(rawValue: 1 << 0)
  public static let twoLevelCDTab = Self(rawValue: 1 << 1)
  public static let ttLE = Self(rawValue: 1 << 2)
  public static let ttBE = Self(rawValue: 1 << 3)
  public static let pri = Self(rawValue: 1 << 4)
  public static let ats = Self(rawValue: 1 << 5)
  public static let sev = Self(rawValue: 1 << 6)
  public static let msi = Self(rawValue: 1 << 7)
  public static let coherency = Self(rawValue: 1 << 8)
  public static let transS1 = Self(rawValue: 1 << 9)
  public static let transS2 = Self(rawValue: 1 << 10)
  public static let stalls = Self(rawValue: 1 << 11)
  public static let hyp = Self(rawValue: 1 << 12)
  public static let stallForce = Self(rawValue: 1 << 13)
  public static let vax = Self(rawValue: 1 << 14)
  public static let rangeInv = Self(rawValue: 1 << 15)
  public static let btm = Self(rawValue: 1 << 16)
  public static let sva = Self(rawValue: 1 << 17)
  public static let e2h = Self(rawValue: 1 << 18)
  public static let nesting = Self(rawValue: 1 << 19)
  public static let attrTypesOvr = Self(rawValue: 1 << 20)
  public static let ha = Self(rawValue: 1 << 21)
  public static let hd = Self(rawValue: 1 << 22)
  public static let s2fwb = Self(rawValue: 1 << 23)
  public static let bbml2 = Self(rawValue: 1 << 24)
}

/// `ARM_SMMU_OPT_*`.
public struct ARMSMMUv3Options: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let skipPrefetch = Self(rawValue: 1 << 0)
  public static let page0RegsOnly = Self(rawValue: 1 << 1)
  public static let msiPoll = Self(rawValue: 1 << 2)
  public static let cmdqForceSync = Self(rawValue: 1 << 3)
  public static let tegra241CMDQV = Self(rawValue: 1 << 4)
}

/// `ilog2()`: floor(log2(n)) for n > 0.
func ilog2(_ n: UInt64) -> Int { 63 - n.leadingZeroBitCount }
