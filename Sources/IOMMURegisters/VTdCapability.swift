import MMIO

// Intel VT-d capability registers, field by field with the VT-d specification's mnemonics.
// The same types decode a real unit's /sys/class/iommu/dmarN/intel-iommu/{cap,ecap} and serve a
// driver model's register file (offsets are the MMIO offsets of the register block).

/// VER_REG (0x00): architecture version, printed by the kernel as "major:minor".
public struct VTdVersion: Register {
  public static let offset = 0x00
  public static let name = "VER"
  public static let fields: [RegisterField] = [.init("MIN", 0...3), .init("MAX", 4...7)]
  public var raw: UInt32
  public init(raw: UInt32) { self.raw = raw }
  public var major: Int { Int(raw[bits: 4...7]) }
  public var minor: Int { Int(raw[bits: 0...3]) }
}

/// CAP_REG (0x08): what the remapping unit can do (VT-d specification §11.4.2; the kernel's
/// cap_* macros in drivers/iommu/intel/iommu.h, Linux 7.2).
public struct VTdCapability: Register {
  public static let offset = 0x08
  public static let name = "CAP"
  public static let fields: [RegisterField] = [
    .init("ND", 0...2), .init("AFL", bit: 3), .init("RWBF", bit: 4), .init("PLMR", bit: 5),
    .init("PHMR", bit: 6), .init("CM", bit: 7), .init("SAGAW", 8...12), .init("MGAW", 16...21),
    .init("ZLR", bit: 22), .init("FRO", 24...33), .init("SLLPS", 34...37), .init("PSI", bit: 39),
    .init("NFR", 40...47), .init("MAMV", 48...53), .init("DWD", bit: 54), .init("DRD", bit: 55),
    .init("FL1GP", bit: 56), .init("PI", bit: 59), .init("FL5LP", bit: 60),
    .init("ESIRTPS", bit: 62), .init("ESRTPS", bit: 63),
  ]
  public var raw: UInt64
  public init(raw: UInt64) { self.raw = raw }

  /// Number of domain IDs: 2^(4 + 2 * ND) (`cap_ndoms`).
  public var domainCount: UInt64 { 1 << (4 + 2 * raw[bits: 0...2]) }
  /// Maximum guest address width in bits: MGAW + 1 (`cap_mgaw`).
  public var maxGuestAddressWidth: Int { Int(raw[bits: 16...21]) + 1 }
  /// Byte offset of the fault recording registers: FRO * 16 (`cap_fault_reg_offset`).
  public var faultRecordingOffset: Int { Int(raw[bits: 24...33]) * 16 }
  /// Number of fault recording registers: NFR + 1 (`cap_num_fault_regs`).
  public var faultRecordingCount: Int { Int(raw[bits: 40...47]) + 1 }
  /// Page-table levels the second stage supports, from SAGAW bits 1 (3-level, 39-bit),
  /// 2 (4-level, 48-bit) and 3 (5-level, 57-bit).
  public var secondStageLevels: [Int] {
    [(1, 3), (2, 4), (3, 5)].compactMap { raw[bit: 8 + $0.0] ? $0.1 : nil }
  }
  public var cachingMode: Bool { raw[bit: 7] }
  public var requiredWriteBufferFlushing: Bool { raw[bit: 4] }
  public var protectedLowMemory: Bool { raw[bit: 5] }
  public var protectedHighMemory: Bool { raw[bit: 6] }
  public var enhancedSetRootTablePointer: Bool { raw[bit: 63] }
}

/// ECAP_REG (0x10): extended capabilities (VT-d specification §11.4.3; the kernel's ecap_*
/// macros in drivers/iommu/intel/iommu.h, Linux 7.2).
public struct VTdExtendedCapability: Register {
  public static let offset = 0x10
  public static let name = "ECAP"
  public static let fields: [RegisterField] = [
    .init("C", bit: 0), .init("QI", bit: 1), .init("DT", bit: 2), .init("IR", bit: 3),
    .init("EIM", bit: 4), .init("PT", bit: 6), .init("SC", bit: 7), .init("IRO", 8...17),
    .init("MHMV", 20...23), .init("NEST", bit: 26), .init("PRS", bit: 29), .init("ERS", bit: 30),
    .init("SRS", bit: 31), .init("NWFS", bit: 33), .init("EAFS", bit: 34), .init("PSS", 35...39),
    .init("PASID", bit: 40), .init("DIT", bit: 41), .init("PDS", bit: 42), .init("SMTS", bit: 43),
    .init("VCS", bit: 44), .init("SLADS", bit: 45), .init("SLTS", bit: 46), .init("FLTS", bit: 47),
    .init("SMPWCS", bit: 48), .init("RPS", bit: 49), .init("ADMS", bit: 52),
    .init("RPRIVS", bit: 53),
  ]
  public var raw: UInt64
  public init(raw: UInt64) { self.raw = raw }

  /// Byte offset of the IOTLB registers: IRO * 16 (`ecap_iotlb_offset`).
  public var iotlbRegisterOffset: Int { Int(raw[bits: 8...17]) * 16 }
  public var queuedInvalidation: Bool { raw[bit: 1] }
  public var interruptRemapping: Bool { raw[bit: 3] }
  public var passThrough: Bool { raw[bit: 6] }
  public var scalableMode: Bool { raw[bit: 43] }
  /// PASID width in bits: PSS + 1, when PASID is supported.
  public var pasidBits: Int? { raw[bit: 40] ? Int(raw[bits: 35...39]) + 1 : nil }
}

/// One decoded field of a register, for reports: `MGAW = 0x26 (38)`.
public struct DecodedField: Sendable, Hashable, Codable {
  public var name: String
  /// `"21:16"` or `"7"`.
  public var bits: String
  public var value: UInt64

  public init(_ field: RegisterField, value: UInt64) {
    name = field.name
    bits =
      field.bits.count == 1
      ? "\(field.bits.lowerBound)" : "\(field.bits.upperBound):\(field.bits.lowerBound)"
    self.value = value
  }
}

extension Register {
  /// Every named field with its value, for reports and `iommu-model decode`.
  public var decodedFields: [DecodedField] { decoded.map { DecodedField($0.field, value: $0.value) } }
}
