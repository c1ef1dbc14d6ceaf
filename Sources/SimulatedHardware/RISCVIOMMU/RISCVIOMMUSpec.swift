/// Offsets, bits and encodings of the RISC-V IOMMU specification (v1.0, chapter 5), as the
/// hardware side sees them. The driver has its own typed register map (iommu-bits); the two are
/// kept apart on purpose so the driver is checked against an independent reading of the spec.
public enum RISCVIOMMUSpec {
  // MARK: Register offsets (spec §5, QEMU riscv-iommu-bits.h)
  public static let capabilities = 0x000
  public static let fctl = 0x008
  public static let ddtp = 0x010
  public static let cqb = 0x018
  public static let cqh = 0x020
  public static let cqt = 0x024
  public static let fqb = 0x028
  public static let fqh = 0x030
  public static let fqt = 0x034
  public static let pqb = 0x038
  public static let pqh = 0x040
  public static let pqt = 0x044
  public static let cqcsr = 0x048
  public static let fqcsr = 0x04c
  public static let pqcsr = 0x050
  public static let ipsr = 0x054
  public static let iocountovf = 0x058
  public static let iocountinh = 0x05c
  public static let iohpmcycles = 0x060
  public static let iohpmctrBase = 0x068
  public static let iohpmevtBase = 0x160
  public static let trReqIOVA = 0x258
  public static let trReqCtl = 0x260
  public static let trResponse = 0x268
  public static let icvec = 0x2f8
  public static let msiConfigTable = 0x300
  /// The register window (`RISCV_IOMMU_REG_SIZE`).
  public static let registerSize = 0x1000

  // MARK: Fields
  public static let ddtpModeMask: UInt64 = 0xf
  public static let ddtpBusy: UInt64 = 1 << 4
  /// PPN [53:10].
  public static let ppnMask: UInt64 = ((1 << 44) - 1) << 10
  public static let queueLog2SizeMask: UInt64 = 0x1f

  public static let csrEnable: UInt64 = 1 << 0
  public static let csrInterruptEnable: UInt64 = 1 << 1
  public static let csrMemoryFault: UInt64 = 1 << 8
  /// CMD_TO on the command queue, OF (overflow) on the fault and page-request queues.
  public static let csrTimeoutOrOverflow: UInt64 = 1 << 9
  public static let cqcsrCommandIllegal: UInt64 = 1 << 10
  public static let cqcsrFenceWaitInterruptPending: UInt64 = 1 << 11
  public static let csrOn: UInt64 = 1 << 16
  public static let csrBusy: UInt64 = 1 << 17

  public static let fctlBigEndian: UInt64 = 1 << 0
  public static let fctlWSI: UInt64 = 1 << 1
  public static let fctlGXL: UInt64 = 1 << 2

  // MARK: Queues
  /// IPSR bit of each queue (`RISCV_IOMMU_INTR_CQ/FQ/PM/PQ`).
  public enum Queue: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case command = 0
    case fault = 1
    case pageRequest = 3

    // Switches, not arrays indexed by rawValue: these are read on every queue register hook.
    public var base: Int {
      switch self {
      case .command: RISCVIOMMUSpec.cqb
      case .fault: RISCVIOMMUSpec.fqb
      case .pageRequest: RISCVIOMMUSpec.pqb
      }
    }
    public var head: Int { base + 8 }
    public var tail: Int { base + 12 }
    public var csr: Int {
      switch self {
      case .command: RISCVIOMMUSpec.cqcsr
      case .fault: RISCVIOMMUSpec.fqcsr
      case .pageRequest: RISCVIOMMUSpec.pqcsr
      }
    }
    /// The index software owns: the tail of the command queue, the head of the others.
    public var softwareIndex: Int { self == .command ? tail : head }
    /// The index the hardware owns.
    public var hardwareIndex: Int { self == .command ? head : tail }
    /// Bytes per entry: 16-byte commands, 32-byte fault records, 16-byte page requests.
    public var entrySize: UInt64 { self == .fault ? 32 : 16 }
    public var ipsrBit: UInt64 { 1 << UInt64(rawValue) }
    public var description: String {
      switch self {
      case .command: "CQ"
      case .fault: "FQ"
      case .pageRequest: "PQ"
      }
    }
  }

  // MARK: Commands (spec §3.1): opcode [6:0], func3 [9:7]
  public static let opcodeIOTINVAL: UInt64 = 1
  public static let opcodeIOFENCE: UInt64 = 2
  public static let opcodeIODIR: UInt64 = 3
  public static let opcodeATS: UInt64 = 4

  // MARK: Fault causes (spec §4.2, table 11)
  public static let causeReadPageFault: UInt16 = 13
  public static let causeWritePageFault: UInt16 = 15
  public static let causeReadAccessFault: UInt16 = 5
  public static let causeWriteAccessFault: UInt16 = 7
  public static let causeAllInboundDisallowed: UInt16 = 256
  public static let causeDDTEntryLoadAccessFault: UInt16 = 257
  public static let causeDDTEntryNotValid: UInt16 = 258
  public static let causeDDTEntryMisconfigured: UInt16 = 259
  public static let causeTransactionTypeDisallowed: UInt16 = 260

  /// Transaction types of a fault record (TTYP).
  public static let ttypUntranslatedRead: UInt64 = 2
  public static let ttypUntranslatedWrite: UInt64 = 3
}

/// DDTP.MODE encodings.
public enum RISCVIOMMUDDTMode: UInt64, Sendable, Hashable, CaseIterable, Comparable,
  CustomStringConvertible
{
  case off = 0
  case bare = 1
  case oneLevel = 2
  case twoLevel = 3
  case threeLevel = 4

  public var isTranslating: Bool { self >= .oneLevel }
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
  public var description: String {
    switch self {
    case .off: "OFF"
    case .bare: "BARE"
    case .oneLevel: "1LVL"
    case .twoLevel: "2LVL"
    case .threeLevel: "3LVL"
    }
  }
}
