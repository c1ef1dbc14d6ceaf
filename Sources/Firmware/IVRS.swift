/// The AMD I/O Virtualization Reporting Structure (AMD IOMMU specification, 48882), as
/// `drivers/iommu/amd/init.c` reads it: IVHD blocks (one IOMMU and the devices it covers) and
/// IVMD blocks (memory ranges with special mapping needs).
public struct IVRSTable: Sendable, Hashable {
  public static let signature = "IVRS"
  /// IVRS_HEADER_LENGTH: header (36 bytes) + IVinfo + 8 reserved bytes.
  public static let headerLength = 48

  public var header: ACPITableHeader
  public var ivInfo: IVRSInfo
  /// The blocks in table order, unknown types included.
  public var blocks: [IVRSBlock]
  public var findings: [FirmwareFinding]

  public init(header: ACPITableHeader, ivInfo: IVRSInfo, blocks: [IVRSBlock], findings: [FirmwareFinding]) {
    self.header = header
    self.ivInfo = ivInfo
    self.blocks = blocks
    self.findings = findings
  }

  public var hardwareDefinitions: [IVHD] {
    blocks.compactMap { if case .hardware(let h) = $0 { h } else { nil } }
  }
  public var memoryDefinitions: [IVMD] {
    blocks.compactMap { if case .memory(let m) = $0 { m } else { nil } }
  }

  /// The IVHD type the kernel uses (it reads one type only and ignores the others): the last
  /// type, up to 40h, among blocks that describe the same IOMMU (device ID) as the first block.
  /// Mirrors get_highest_supported_ivhd_type(), drivers/iommu/amd/init.c (Linux 7.2).
  public var kernelIVHDType: UInt8? {
    guard let first = blocks.first else { return nil }
    var last = first.type
    for b in blocks {
      guard b.type <= 0x40 else { break }
      if b.deviceID == first.deviceID { last = b.type }
    }
    return last
  }

  /// The IVHD blocks of `kernelIVHDType`: the IOMMUs as the kernel sees them.
  public var kernelIOMMUs: [IVHD] {
    guard let t = kernelIVHDType else { return [] }
    return hardwareDefinitions.filter { $0.type == t }
  }
}

/// The IVinfo field (offset 36).
public struct IVRSInfo: Sendable, Hashable {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// IOMMU_IVINFO_EFRSUP: the IVHD 11h/40h EFR image is valid.
  public var efrSupported: Bool { rawValue & 1 != 0 }
  /// IOMMU_IVINFO_DMA_REMAP: firmware had DMA remapping on before the OS (DMA protection opt-in).
  public var dmaRemap: Bool { rawValue & 2 != 0 }
  /// Guest virtual address size code (bits 7:5; 2 = 48 bits).
  public var guestVirtualAddressSize: UInt8 { UInt8((rawValue >> 5) & 0x7) }
  /// Physical address size in bits (bits 14:8).
  public var physicalAddressSize: UInt8 { UInt8((rawValue >> 8) & 0x7F) }
  /// Virtual address size in bits (bits 21:15).
  public var virtualAddressSize: UInt8 { UInt8((rawValue >> 15) & 0x7F) }
  /// HT ATS reserved (bit 22).
  public var htATSReserved: Bool { rawValue & (1 << 22) != 0 }
}

public enum IVRSBlock: Sendable, Hashable {
  case hardware(IVHD)
  case memory(IVMD)
  case unknown(type: UInt8, offset: Int, deviceID: UInt16, bytes: [UInt8])

  public var type: UInt8 {
    switch self {
    case .hardware(let h): h.type
    case .memory(let m): m.type
    case .unknown(let t, _, _, _): t
    }
  }
  public var offset: Int {
    switch self {
    case .hardware(let h): h.offset
    case .memory(let m): m.offset
    case .unknown(_, let o, _, _): o
    }
  }
  /// The device ID at block offset 4 (every block type has it there).
  public var deviceID: UInt16 {
    switch self {
    case .hardware(let h): h.deviceID
    case .memory(let m): m.deviceID
    case .unknown(_, _, let d, _): d
    }
  }
}

/// An IVHD block (types 10h, 11h, 40h): one IOMMU.
public struct IVHD: Sendable, Hashable {
  public var offset: Int
  public var type: UInt8
  /// Bit 0 HtTunEn, 1 PassPW, 2 ResPassPW, 3 Isoc, 4 IotlbSup, 5 Coherent, 6 PrefSup, 7 PPRSup.
  public var flags: UInt8
  public var length: UInt16
  /// The IOMMU's own PCI device ID (bus << 8 | devfn).
  public var deviceID: UInt16
  /// Offset of the IOMMU capability block in the IOMMU function's config space.
  public var capabilityOffset: UInt16
  public var baseAddress: UInt64
  public var pciSegment: UInt16
  /// IOMMU info: MSI number (bits 4:0) and unit ID (bits 12:8).
  public var iommuInfo: UInt16
  /// Type 10h: IOMMU Feature Reporting; types 11h/40h: IOMMU Attributes.
  public var featureReporting: UInt32
  /// Types 11h/40h: the image of the Extended Feature Register (EFR) and EFR2.
  public var efrImage: UInt64?
  public var efr2Image: UInt64?
  public var entries: [IVHDDeviceEntry]

  public init(
    offset: Int, type: UInt8, flags: UInt8, length: UInt16, deviceID: UInt16, capabilityOffset: UInt16,
    baseAddress: UInt64, pciSegment: UInt16, iommuInfo: UInt16, featureReporting: UInt32, efrImage: UInt64?,
    efr2Image: UInt64?, entries: [IVHDDeviceEntry]
  ) {
    self.offset = offset
    self.type = type
    self.flags = flags
    self.length = length
    self.deviceID = deviceID
    self.capabilityOffset = capabilityOffset
    self.baseAddress = baseAddress
    self.pciSegment = pciSegment
    self.iommuInfo = iommuInfo
    self.featureReporting = featureReporting
    self.efrImage = efrImage
    self.efr2Image = efr2Image
    self.entries = entries
  }

  /// The fixed header's size for this type: 24 for 10h, 40 for 11h and 40h; 0 for others.
  /// Mirrors get_ivhd_header_size(), drivers/iommu/amd/init.c (Linux 7.2).
  public static func headerSize(type: UInt8) -> Int {
    switch type {
    case 0x10: 24
    case 0x11, 0x40: 40
    default: 0
    }
  }

  public var msiNumber: UInt8 { UInt8(iommuInfo & 0x1F) }
  public var unitID: UInt8 { UInt8((iommuInfo >> 8) & 0x1F) }
  /// Types 11h/40h attribute bit 0 (HATDIS): host address translation is not supported.
  public var hostAddressTranslationDisabled: Bool { type != 0x10 && featureReporting & 1 != 0 }
}

/// An IVMD block (types 20h all peripherals, 21h one peripheral, 22h a peripheral range).
public struct IVMD: Sendable, Hashable {
  public struct Flags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unity = Flags(rawValue: 1 << 0)
    public static let read = Flags(rawValue: 1 << 1)
    public static let write = Flags(rawValue: 1 << 2)
    public static let exclusionRange = Flags(rawValue: 1 << 3)
  }
  public static let length = 32

  public var offset: Int
  public var type: UInt8
  public var flags: Flags
  /// Type 21h: the device; type 22h: the first device of the range.
  public var deviceID: UInt16
  /// Type 22h: the last device of the range.
  public var auxiliaryData: UInt16
  public var startAddress: UInt64
  public var memoryLength: UInt64

  public init(
    offset: Int, type: UInt8, flags: Flags, deviceID: UInt16, auxiliaryData: UInt16, startAddress: UInt64,
    memoryLength: UInt64
  ) {
    self.offset = offset
    self.type = type
    self.flags = flags
    self.deviceID = deviceID
    self.auxiliaryData = auxiliaryData
    self.startAddress = startAddress
    self.memoryLength = memoryLength
  }

  /// The devices the block applies to: all (20h), one (21h) or a range (22h).
  public var devices: ClosedRange<UInt16>? {
    switch type {
    case 0x20: 0...0xFFFF
    case 0x21: deviceID...deviceID
    case 0x22: deviceID <= auxiliaryData ? deviceID...auxiliaryData : nil
    default: nil
    }
  }
}
