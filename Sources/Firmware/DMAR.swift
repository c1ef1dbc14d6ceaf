/// The Intel VT-d DMA Remapping Reporting table (VT-d specification chapter 8), as
/// `drivers/iommu/intel/dmar.c` reads it.
public struct DMARTable: Sendable, Hashable {
  public static let signature = "DMAR"
  /// Header (36 bytes) + host address width, flags and 10 reserved bytes.
  public static let headerLength = 48

  public var header: ACPITableHeader
  /// The raw "Host Address Width" byte: the width minus one.
  public var hostAddressWidthField: UInt8
  public var flags: DMARFlags
  /// The remapping structures in table order, unknown types included.
  public var structures: [DMARStructure]
  /// Problems the kernel warns about but that do not stop it (bad checksum, broken RMRR, ...).
  public var findings: [FirmwareFinding]

  /// The host address width in bits, as the kernel logs it ("Host address width %d").
  public var hostAddressWidth: Int { Int(hostAddressWidthField) + 1 }

  public var hardwareUnits: [DMARHardwareUnit] {
    structures.compactMap { if case .hardwareUnit(let u) = $0 { u } else { nil } }
  }
  public var reservedMemoryRegions: [DMARReservedMemory] {
    structures.compactMap { if case .reservedMemory(let u) = $0 { u } else { nil } }
  }
  public var rootPortATS: [DMARRootPortATS] {
    structures.compactMap { if case .rootPortATS(let u) = $0 { u } else { nil } }
  }
  public var hardwareAffinities: [DMARHardwareAffinity] {
    structures.compactMap { if case .hardwareAffinity(let u) = $0 { u } else { nil } }
  }
  public var namespaceDevices: [DMARNamespaceDevice] {
    structures.compactMap { if case .namespaceDevice(let u) = $0 { u } else { nil } }
  }
  public var socIntegratedATC: [DMARSoCIntegratedATC] {
    structures.compactMap { if case .socIntegratedATC(let u) = $0 { u } else { nil } }
  }

  /// The hardware units in the order the kernel keeps them on `dmar_drhd_units`: each unit is
  /// added at the list head, except INCLUDE_PCI_ALL units, which go to the tail so that explicit
  /// scopes match first.
  /// Mirrors dmar_register_drhd_unit(), drivers/iommu/intel/dmar.c (Linux 7.2).
  public var hardwareUnitsInKernelOrder: [DMARHardwareUnit] {
    var list: [DMARHardwareUnit] = []
    for u in hardwareUnits {
      if u.flags.contains(.includePCIAll) { list.append(u) } else { list.insert(u, at: 0) }
    }
    return list
  }

  public init(
    header: ACPITableHeader, hostAddressWidthField: UInt8, flags: DMARFlags, structures: [DMARStructure],
    findings: [FirmwareFinding]
  ) {
    self.header = header
    self.hostAddressWidthField = hostAddressWidthField
    self.flags = flags
    self.structures = structures
    self.findings = findings
  }
}

/// DMAR table flags (byte 37).
public struct DMARFlags: OptionSet, Sendable, Hashable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  /// INTR_REMAP: the platform supports interrupt remapping.
  public static let interruptRemapping = DMARFlags(rawValue: 1 << 0)
  /// X2APIC_OPT_OUT: firmware asks the OS not to enable x2APIC mode.
  public static let x2APICOptOut = DMARFlags(rawValue: 1 << 1)
  /// DMA_CTRL_PLATFORM_OPT_IN: firmware opts in to DMA protection (read by dmar_platform_optin()).
  public static let dmaControlPlatformOptIn = DMARFlags(rawValue: 1 << 2)
}

/// One remapping structure. The type numbers are the specification's; types the kernel does not
/// know (6 and above, e.g. SIDP) are kept as `.unknown`, since the kernel skips them.
public enum DMARStructure: Sendable, Hashable {
  case hardwareUnit(DMARHardwareUnit)
  case reservedMemory(DMARReservedMemory)
  case rootPortATS(DMARRootPortATS)
  case hardwareAffinity(DMARHardwareAffinity)
  case namespaceDevice(DMARNamespaceDevice)
  case socIntegratedATC(DMARSoCIntegratedATC)
  case unknown(type: UInt16, offset: Int, bytes: [UInt8])

  public var offset: Int {
    switch self {
    case .hardwareUnit(let s): s.offset
    case .reservedMemory(let s): s.offset
    case .rootPortATS(let s): s.offset
    case .hardwareAffinity(let s): s.offset
    case .namespaceDevice(let s): s.offset
    case .socIntegratedATC(let s): s.offset
    case .unknown(_, let o, _): o
    }
  }
}

/// DRHD (type 0): one remapping hardware unit.
public struct DMARHardwareUnit: Sendable, Hashable {
  public struct Flags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// INCLUDE_PCI_ALL: the unit covers every PCI device of its segment not claimed by another.
    public static let includePCIAll = Flags(rawValue: 1 << 0)
  }

  public var offset: Int
  public var flags: Flags
  /// The raw "Size" byte: the register set spans 2^(size+12) bytes (bits 3:0; 7:4 are reserved).
  public var sizeField: UInt8
  public var segment: UInt16
  public var registerBase: UInt64
  public var scopes: [DMARDeviceScope]

  /// Bytes of register space, `1 << (size + 12)` as dmar_parse_one_drhd() computes reg_size.
  public var registerSetSize: UInt64 { 1 << (UInt64(sizeField & 0xF) + 12) }

  public init(
    offset: Int, flags: Flags, sizeField: UInt8, segment: UInt16, registerBase: UInt64, scopes: [DMARDeviceScope]
  ) {
    self.offset = offset
    self.flags = flags
    self.sizeField = sizeField
    self.segment = segment
    self.registerBase = registerBase
    self.scopes = scopes
  }
}

/// RMRR (type 1): memory a device keeps using for DMA, identity-mapped by the kernel.
public struct DMARReservedMemory: Sendable, Hashable {
  public var offset: Int
  public var segment: UInt16
  public var baseAddress: UInt64
  /// Inclusive end ("End Address (limit)").
  public var endAddress: UInt64
  public var scopes: [DMARDeviceScope]

  public init(offset: Int, segment: UInt16, baseAddress: UInt64, endAddress: UInt64, scopes: [DMARDeviceScope]) {
    self.offset = offset
    self.segment = segment
    self.baseAddress = baseAddress
    self.endAddress = endAddress
    self.scopes = scopes
  }
}

/// ATSR (type 2): root ports that support Address Translation Services.
public struct DMARRootPortATS: Sendable, Hashable {
  public var offset: Int
  /// Flag bit 0 (ALL_PORTS): every root port of the segment supports ATS.
  public var allPorts: Bool
  public var segment: UInt16
  public var scopes: [DMARDeviceScope]

  public init(offset: Int, allPorts: Bool, segment: UInt16, scopes: [DMARDeviceScope]) {
    self.offset = offset
    self.allPorts = allPorts
    self.segment = segment
    self.scopes = scopes
  }
}

/// RHSA (type 3): the NUMA proximity domain of a hardware unit.
public struct DMARHardwareAffinity: Sendable, Hashable {
  public var offset: Int
  public var registerBase: UInt64
  public var proximityDomain: UInt32

  public init(offset: Int, registerBase: UInt64, proximityDomain: UInt32) {
    self.offset = offset
    self.registerBase = registerBase
    self.proximityDomain = proximityDomain
  }
}

/// ANDD (type 4): the ACPI name of a NAMESPACE device scope's enumeration ID.
public struct DMARNamespaceDevice: Sendable, Hashable {
  public var offset: Int
  public var deviceNumber: UInt8
  public var name: String

  public init(offset: Int, deviceNumber: UInt8, name: String) {
    self.offset = offset
    self.deviceNumber = deviceNumber
    self.name = name
  }
}

/// SATC (type 5): SoC-integrated devices with an address translation cache.
public struct DMARSoCIntegratedATC: Sendable, Hashable {
  public var offset: Int
  /// Flag bit 0 (ATC_REQUIRED): the devices must have ATS enabled to work.
  public var atcRequired: Bool
  public var segment: UInt16
  public var scopes: [DMARDeviceScope]

  public init(offset: Int, atcRequired: Bool, segment: UInt16, scopes: [DMARDeviceScope]) {
    self.offset = offset
    self.atcRequired = atcRequired
    self.segment = segment
    self.scopes = scopes
  }
}
