import MMIO

/// A capability found in a function's configuration space: a standard one (8-bit ID, in the
/// list from the Capabilities Pointer) or an extended one (16-bit ID, from offset 0x100).
public struct PCICapability: Sendable, Hashable {
  public var id: UInt16
  public var offset: Int
  public var isExtended: Bool
  /// The extended capability's version (bits 19:16 of its header); 0 for standard ones.
  public var version: UInt8

  public init(id: UInt16, offset: Int, isExtended: Bool, version: UInt8 = 0) {
    self.id = id
    self.offset = offset
    self.isExtended = isExtended
    self.version = version
  }

  /// The name lspci and the PCI specifications use (`PCI Express`, `Access Control Services`).
  public var name: String {
    (isExtended ? PCICapabilityID.extendedNames[id] : PCICapabilityID.names[id])
      ?? (isExtended ? "Extended capability \(hex(id, digits: 4))" : "Capability \(hex(id, digits: 2))")
  }
}

/// Capability IDs (include/uapi/linux/pci_regs.h).
public enum PCICapabilityID {
  public static let powerManagement: UInt16 = 0x01
  public static let msi: UInt16 = 0x05
  public static let hyperTransport: UInt16 = 0x08
  public static let vendorSpecific: UInt16 = 0x09
  /// "Secure Device", which AMD IOMMUs use with capability type 3 (the AMD IOMMU capability).
  public static let secureDevice: UInt16 = 0x0f
  public static let pciExpress: UInt16 = 0x10
  public static let msix: UInt16 = 0x11

  public static let acs: UInt16 = 0x000d
  public static let ari: UInt16 = 0x000e
  public static let ats: UInt16 = 0x000f
  public static let sriov: UInt16 = 0x0010
  public static let pri: UInt16 = 0x0013
  public static let pasid: UInt16 = 0x001b

  static let names: [UInt16: String] = [
    0x01: "Power Management", 0x02: "AGP", 0x03: "VPD", 0x04: "Slot ID", 0x05: "MSI",
    0x06: "CompactPCI Hot Swap", 0x07: "PCI-X", 0x08: "HyperTransport", 0x09: "Vendor Specific",
    0x0a: "Debug Port", 0x0b: "CompactPCI Central Resource Control", 0x0c: "PCI Hot Plug",
    0x0d: "Bridge Subsystem Vendor ID", 0x0e: "AGP 8x", 0x0f: "Secure Device (AMD IOMMU)",
    0x10: "PCI Express", 0x11: "MSI-X", 0x12: "SATA", 0x13: "PCI Advanced Features",
    0x14: "Enhanced Allocation", 0x15: "Flattening Portal Bridge",
  ]

  static let extendedNames: [UInt16: String] = [
    0x0001: "Advanced Error Reporting", 0x0002: "Virtual Channel", 0x0003: "Device Serial Number",
    0x0004: "Power Budgeting", 0x0005: "Root Complex Link Declaration",
    0x0006: "Root Complex Internal Link Control", 0x0007: "Root Complex Event Collector",
    0x0008: "Multi-Function VC Arbitration", 0x0009: "Virtual Channel (MFVC)",
    0x000a: "Root Complex Register Block", 0x000b: "Vendor Specific",
    0x000c: "Configuration Access Correlation", 0x000d: "Access Control Services",
    0x000e: "Alternative Routing-ID Interpretation", 0x000f: "Address Translation Service",
    0x0010: "Single Root I/O Virtualization", 0x0011: "Multi-Root I/O Virtualization",
    0x0012: "Multicast", 0x0013: "Page Request Interface", 0x0015: "Resizable BAR",
    0x0016: "Dynamic Power Allocation", 0x0017: "TPH Requester", 0x0018: "Latency Tolerance Reporting",
    0x0019: "Secondary PCI Express", 0x001a: "Protocol Multiplexing",
    0x001b: "Process Address Space ID", 0x001d: "Downstream Port Containment",
    0x001e: "L1 PM Substates", 0x001f: "Precision Time Measurement", 0x0023: "Designated Vendor-Specific",
    0x0024: "VF Resizable BAR", 0x0025: "Data Link Feature", 0x0026: "Physical Layer 16.0 GT/s",
    0x0027: "Lane Margining at the Receiver", 0x002a: "Physical Layer 32.0 GT/s",
  ]
}

/// What a walk of one capability list established.
public enum CapabilityListState: Sendable, Hashable {
  /// The list was followed to its end.
  case complete
  /// The function has no such list: Status.CapList clear, or an extended header of 0 or all ones.
  case absent
  /// Extended capabilities: the function is not PCI Express, so it has no extended space.
  case notApplicable
  /// The list continues at `offset`, which was not captured: a non-root reader sees 64 bytes of
  /// config space, `lspci -x` dumps 64 and `-xxx` 256. Nothing about the rest may be concluded.
  case unreadable(offset: Int)
  /// The list is broken at `offset` (a pointer into the header, or a loop).
  case malformed(offset: Int, reason: String)
}

/// The capabilities of one function, and how far each list could be followed.
public struct CapabilityWalk: Sendable, Hashable {
  public var capabilities: [PCICapability]
  public var standard: CapabilityListState
  public var extended: CapabilityListState

  /// The first capability with `id` (standard or extended as asked), if found.
  public func first(_ id: UInt16, extended: Bool = false) -> PCICapability? {
    capabilities.first { $0.id == id && $0.isExtended == extended }
  }

  /// Whether the absence of capability `id` is established: the list that would hold it was
  /// walked completely (or does not exist). False when the list could not be read.
  public func knownAbsent(_ id: UInt16, extended: Bool = false) -> Bool {
    guard first(id, extended: extended) == nil else { return false }
    switch extended ? self.extended : standard {
    case .complete, .absent, .notApplicable: return true
    case .unreadable, .malformed: return false
    }
  }
}

extension PCICapabilities {
  /// Walks both capability lists of a configuration space, reading only through `io`
  /// (simulated, a snapshot, or real config space through libpci).
  ///
  /// Follows the kernel's walk: the standard list from the Capabilities Pointer (0x14 for
  /// CardBus bridges) while pointers are >= 0x40, at most 48 entries (`PCI_FIND_CAP_TTL`); the
  /// extended list from 0x100 while pointers are >= 0x100, at most (4096 - 256) / 8 entries.
  /// Mirrors __pci_find_next_cap_ttl() and pci_find_next_ext_capability(),
  /// drivers/pci/pci.c (Linux 7.2).
  public static func walk(_ io: some RegisterIO) -> CapabilityWalk {
    var caps: [PCICapability] = []
    let standard = walkStandard(io, into: &caps)
    let isExpress = caps.contains { $0.id == PCICapabilityID.pciExpress && !$0.isExtended }
    let extended: CapabilityListState
    if isExpress {
      extended = walkExtended(io, into: &caps)
    } else if case .complete = standard {
      extended = .notApplicable
    } else if case .absent = standard {
      extended = .notApplicable
    } else {
      // Whether the function is PCI Express is itself unknown.
      extended = standard
    }
    return CapabilityWalk(capabilities: caps, standard: standard, extended: extended)
  }

  static func walkStandard(_ io: some RegisterIO, into caps: inout [PCICapability]) -> CapabilityListState {
    guard let status = try? io.read(UInt16.self, at: PCIConfig.status) else {
      return .unreadable(offset: PCIConfig.status)
    }
    guard status & PCIConfig.statusCapList != 0 else { return .absent }
    guard let header = try? io.read(UInt8.self, at: PCIConfig.headerType) else {
      return .unreadable(offset: PCIConfig.headerType)
    }
    let pointerOffset = header & 0x7f == 2 ? 0x14 : PCIConfig.capabilitiesPointer
    guard var pos = (try? io.read(UInt8.self, at: pointerOffset)).map({ Int($0) & ~3 }) else {
      return .unreadable(offset: pointerOffset)
    }
    var seen = Set<Int>()
    for _ in 0..<48 {
      if pos == 0 { return .complete }
      guard pos >= 0x40 else { return .malformed(offset: pos, reason: "capability pointer into the header") }
      guard seen.insert(pos).inserted else { return .malformed(offset: pos, reason: "capability list loops") }
      guard let word = try? io.read(UInt16.self, at: pos) else { return .unreadable(offset: pos) }
      let id = word & 0xff
      // An ID of 0xff is what a missing function reads as: the list ends (as in the kernel).
      if id == 0xff { return .complete }
      caps.append(PCICapability(id: id, offset: pos, isExtended: false))
      pos = Int(word >> 8) & ~3
    }
    return .malformed(offset: pos, reason: "more than 48 capabilities")
  }

  static func walkExtended(_ io: some RegisterIO, into caps: inout [PCICapability]) -> CapabilityListState {
    var pos = PCIConfig.standardSize
    var seen = Set<Int>()
    for index in 0..<((PCIConfig.extendedSize - PCIConfig.standardSize) / 8) {
      guard let header = try? io.read(UInt32.self, at: pos) else { return .unreadable(offset: pos) }
      if index == 0, header == 0 || header == 0xffff_ffff { return .absent }
      if header == 0 { return .complete }
      guard seen.insert(pos).inserted else { return .malformed(offset: pos, reason: "extended capability list loops") }
      caps.append(
        PCICapability(
          id: UInt16(header & 0xffff), offset: pos, isExtended: true, version: UInt8((header >> 16) & 0xf)))
      let next = Int(header >> 20) & ~3
      if next == 0 { return .complete }
      guard next >= PCIConfig.standardSize else {
        return .malformed(offset: pos, reason: "extended capability pointer \(hex(next)) below 0x100")
      }
      pos = next
    }
    return .malformed(offset: pos, reason: "too many extended capabilities")
  }
}
