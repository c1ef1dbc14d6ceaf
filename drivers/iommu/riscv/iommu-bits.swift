import MMIO

// Mirrors drivers/iommu/riscv/iommu-bits.h (Linux 7.2): the register map of the RISC-V IOMMU
// specification v1.0 as typed registers, the command encodings and the in-memory structures.

/// `RISCV_IOMMU_REG_SIZE`: the register window the bus glue must map.
public let RISCV_IOMMU_REG_SIZE = 0x1000
/// `RISCV_IOMMU_INTR_COUNT`: CQ, FQ, PM, PQ.
public let RISCV_IOMMU_INTR_COUNT = 4

/// `RISCV_IOMMU_CAPABILITIES_IGS_*`.
public enum RISCVIOMMUIGS: UInt64, Sendable, Hashable {
  case msi = 0
  case wsi = 1
  case both = 2
}

/// CAPABILITIES (0x000, 64-bit, read-only).
public struct RISCVIOMMUCapabilities: Register {
  public static let offset = 0x000
  public static let name = "CAPABILITIES"
  public static let fields: [RegisterField] = [
    .init("VERSION", 0...7), .init("SV32", bit: 8), .init("SV39", bit: 9), .init("SV48", bit: 10),
    .init("SV57", bit: 11), .init("SVPBMT", bit: 15), .init("SV32X4", bit: 16), .init("SV39X4", bit: 17),
    .init("SV48X4", bit: 18), .init("SV57X4", bit: 19), .init("AMO_MRIF", bit: 21),
    .init("MSI_FLAT", bit: 22), .init("MSI_MRIF", bit: 23), .init("AMO_HWAD", bit: 24),
    .init("ATS", bit: 25), .init("T2GPA", bit: 26), .init("END", bit: 27), .init("IGS", 28...29),
    .init("HPM", bit: 30), .init("DBG", bit: 31), .init("PAS", 32...37), .init("PD8", bit: 38),
    .init("PD17", bit: 39), .init("PD20", bit: 40),
  ]
  public var raw: UInt64
  public init(raw: UInt64) { self.raw = raw }
  public var version: UInt64 { raw[bits: 0...7] }
  public var sv39: Bool { raw[bit: 9] }
  public var sv48: Bool { raw[bit: 10] }
  public var sv57: Bool { raw[bit: 11] }
  public var msiFlat: Bool { raw[bit: 22] }
  /// END: both endiannesses are supported, FCTL.BE may be changed.
  public var end: Bool { raw[bit: 27] }
  public var igs: FieldValue<RISCVIOMMUIGS> { raw.field(28...29) }
}

/// FCTL (0x008, 32-bit).
public struct RISCVIOMMUFCTL: Register {
  public static let offset = 0x008
  public static let name = "FCTL"
  public static let fields: [RegisterField] = [.init("BE", bit: 0), .init("WSI", bit: 1), .init("GXL", bit: 2)]
  public static let BE: UInt32 = 1 << 0
  public static let WSI: UInt32 = 1 << 1
  public var raw: UInt32
  public init(raw: UInt32) { self.raw = raw }
  public var be: Bool { raw[bit: 0] }
  public var wsi: Bool { raw[bit: 1] }
}

/// `RISCV_IOMMU_DDTP_IOMMU_MODE_*`.
public enum RISCVIOMMUDDTPMode: UInt64, Sendable, Hashable, Comparable, CaseIterable {
  case off = 0
  case bare = 1
  case oneLevel = 2
  case twoLevel = 3
  case threeLevel = 4
  /// `RISCV_IOMMU_DDTP_IOMMU_MODE_MAX`.
  public static let max = threeLevel
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// DDTP (0x010, 64-bit): MODE [3:0], BUSY [4], PPN [53:10].
public struct RISCVIOMMUDDTP: Register {
  public static let offset = 0x010
  public static let name = "DDTP"
  public static let fields: [RegisterField] = [.init("MODE", 0...3), .init("BUSY", bit: 4), .init("PPN", 10...53)]
  public static let BUSY: UInt64 = 1 << 4
  public var raw: UInt64
  public init(raw: UInt64) { self.raw = raw }
  public init(mode: UInt64, ppn: UInt64 = 0) { raw = (mode & 0xf) | (ppn & RISCV_IOMMU_PPN_FIELD) }
  public var mode: FieldValue<RISCVIOMMUDDTPMode> { raw.field(0...3) }
  /// MODE as a number (the kernel compares it with `>`).
  public var modeValue: UInt64 { raw[bits: 0...3] }
  public var busy: Bool { raw[bit: 4] }
}

/// `RISCV_IOMMU_PPN_FIELD`: PPN [53:10] of DDTP and the queue bases.
public let RISCV_IOMMU_PPN_FIELD: UInt64 = UInt64.mask(10...53)
/// `RISCV_IOMMU_QUEUE_LOG2SZ_FIELD`.
public let RISCV_IOMMU_QUEUE_LOG2SZ_FIELD: UInt64 = UInt64.mask(0...4)

/// `phys_to_ppn()`: PHYS => PPN[53:10].
@inline(__always) public func phys_to_ppn(_ pa: UInt64) -> UInt64 { (pa >> 2) & (((1 << 44) - 1) << 10) }
/// `ppn_to_phys()`.
@inline(__always) public func ppn_to_phys(_ pn: UInt64) -> UInt64 { (pn << 2) & (((1 << 44) - 1) << 12) }

/// Queue registers (`RISCV_IOMMU_REG_CQB` ...), the same layout for the three queues.
public enum RISCVIOMMUQueueRegs {
  public static let CQB = 0x018
  public static let CQH = 0x020
  public static let CQT = 0x024
  public static let FQB = 0x028
  public static let FQH = 0x030
  public static let FQT = 0x034
  public static let PQB = 0x038
  public static let CQCSR = 0x048
  public static let FQCSR = 0x04c
  public static let PQCSR = 0x050
}

/// Queue CSR bits common to CQCSR/FQCSR/PQCSR (`RISCV_IOMMU_QUEUE_*`).
public enum RISCVIOMMUQueueCSR {
  public static let ENABLE: UInt32 = 1 << 0
  public static let INTR_ENABLE: UInt32 = 1 << 1
  public static let MEM_FAULT: UInt32 = 1 << 8
  public static let OVERFLOW: UInt32 = 1 << 9
  public static let ACTIVE: UInt32 = 1 << 16
  public static let BUSY: UInt32 = 1 << 17
  // CQCSR only.
  public static let CQCSR_CQMF: UInt32 = 1 << 8
  public static let CQCSR_CMD_TO: UInt32 = 1 << 9
  public static let CQCSR_CMD_ILL: UInt32 = 1 << 10
  public static let CQCSR_FENCE_W_IP: UInt32 = 1 << 11
}

/// CQCSR (0x048), typed for tests and decoding.
public struct RISCVIOMMUCQCSR: Register {
  public static let offset = 0x048
  public static let name = "CQCSR"
  public static let writeOneToClear: UInt32 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11)
  public static let fields: [RegisterField] = [
    .init("CQEN", bit: 0), .init("CIE", bit: 1), .init("CQMF", bit: 8), .init("CMD_TO", bit: 9),
    .init("CMD_ILL", bit: 10), .init("FENCE_W_IP", bit: 11), .init("CQON", bit: 16), .init("BUSY", bit: 17),
  ]
  public var raw: UInt32
  public init(raw: UInt32) { self.raw = raw }
}

/// IPSR (0x054, write 1 to clear).
public struct RISCVIOMMUIPSR: Register {
  public static let offset = 0x054
  public static let name = "IPSR"
  public static let writeOneToClear: UInt32 = 0xf
  public static let fields: [RegisterField] = [
    .init("CIP", bit: 0), .init("FIP", bit: 1), .init("PMIP", bit: 2), .init("PIP", bit: 3),
  ]
  public var raw: UInt32
  public init(raw: UInt32) { self.raw = raw }
}

/// ICVEC (0x2F8, 64-bit): CIV [3:0], FIV [7:4], PMIV [11:8], PIV [15:12].
public struct RISCVIOMMUICVEC: Register {
  public static let offset = 0x2f8
  public static let name = "ICVEC"
  public static let fields: [RegisterField] = [
    .init("CIV", 0...3), .init("FIV", 4...7), .init("PMIV", 8...11), .init("PIV", 12...15),
  ]
  public var raw: UInt64
  public init(raw: UInt64) { self.raw = raw }
  public var civ: UInt64 {
    get { raw[bits: 0...3] }
    set { raw[bits: 0...3] = newValue }
  }
  public var fiv: UInt64 {
    get { raw[bits: 4...7] }
    set { raw[bits: 4...7] = newValue }
  }
  public var pmiv: UInt64 {
    get { raw[bits: 8...11] }
    set { raw[bits: 8...11] = newValue }
  }
  public var piv: UInt64 {
    get { raw[bits: 12...15] }
    set { raw[bits: 12...15] = newValue }
  }
}

/// `RISCV_IOMMU_INTR_*`: the interrupt cause numbers, also the queue ids and IPSR bits.
public enum RISCVIOMMUIntr: UInt32, Sendable {
  case cq = 0
  case fq = 1
  case pm = 2
  case pq = 3
}

/// `struct riscv_iommu_command`: two dwords, built by the `riscv_iommu_cmd_*` helpers.
public struct RISCVIOMMUCommand: Sendable, Hashable, CustomStringConvertible {
  public var dword0: UInt64
  public var dword1: UInt64

  /// `riscv_iommu_cmd_inval_vma()`: IOTINVAL.VMA, all address spaces.
  public static func invalVMA() -> Self { Self(dword0: 1 | (0 << 7), dword1: 0) }
  /// `riscv_iommu_cmd_inval_set_pscid()`.
  public mutating func setPSCID(_ pscid: UInt32) {
    dword0 |= (UInt64(pscid) & 0xf_ffff) << 12 | (1 << 32)
  }
  /// `riscv_iommu_cmd_iofence()`: IOFENCE.C with PR and PW.
  public static func iofence() -> Self { Self(dword0: 2 | (0 << 7) | (1 << 12) | (1 << 13), dword1: 0) }
  /// `riscv_iommu_cmd_iodir_inval_ddt()`: IODIR.INVAL_DDT, every device.
  public static func iodirInvalDDT() -> Self { Self(dword0: 3 | (0 << 7), dword1: 0) }
  /// `riscv_iommu_cmd_iodir_set_did()`: DID [63:40] with DV.
  public mutating func setDID(_ devid: UInt32) {
    dword0 |= (UInt64(devid & 0xff_ffff) << 40) | (1 << 33)
  }

  public var description: String { "command \(hex(dword0)) \(hex(dword1))" }
}

/// Device context bits (`RISCV_IOMMU_DC_*`, `RISCV_IOMMU_PC_TA_*`, `RISCV_IOMMU_DDTE_V`).
public enum RISCVIOMMUDC {
  public static let TC_V: UInt64 = 1 << 0
  public static let TC_PDTV: UInt64 = 1 << 5
  public static let DDTE_V: UInt64 = 1 << 0
  public static let PC_TA_V: UInt64 = 1 << 0
  public static let PC_TA_PSCID: UInt64 = UInt64.mask(12...31)
  /// `RISCV_IOMMU_FSC_BARE`.
  public static let FSC_BARE: UInt64 = 0
  /// Byte offsets of the words of `struct riscv_iommu_dc`.
  public static let tc: UInt64 = 0
  public static let iohgatp: UInt64 = 8
  public static let ta: UInt64 = 16
  public static let fsc: UInt64 = 24
}
