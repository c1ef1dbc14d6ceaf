/// A device scope entry of a DRHD, RMRR, ATSR or SATC: a device named by its start bus and a
/// path of (device, function) hops through bridges.
public struct DMARDeviceScope: Sendable, Hashable {
  public enum Kind: Sendable, Hashable {
    case endpoint  // 1
    case bridge  // 2, covers the bridge's whole subordinate bus range
    case ioapic  // 3, used by interrupt remapping
    case hpet  // 4, used by interrupt remapping
    case namespace  // 5, an ACPI device named by an ANDD structure
    case unknown(UInt8)

    public init(rawValue: UInt8) {
      switch rawValue {
      case 1: self = .endpoint
      case 2: self = .bridge
      case 3: self = .ioapic
      case 4: self = .hpet
      case 5: self = .namespace
      default: self = .unknown(rawValue)
      }
    }

    public var rawValue: UInt8 {
      switch self {
      case .endpoint: 1
      case .bridge: 2
      case .ioapic: 3
      case .hpet: 4
      case .namespace: 5
      case .unknown(let v): v
      }
    }

    /// Whether the kernel counts it for DMA scope (dmar_alloc_dev_scope()).
    public var isDMAScope: Bool { self == .endpoint || self == .bridge || self == .namespace }
  }

  /// One hop of the path: a device and function on the bus reached so far.
  public struct PathElement: Sendable, Hashable, CustomStringConvertible {
    public var device: UInt8
    public var function: UInt8
    public init(device: UInt8, function: UInt8) {
      self.device = device
      self.function = function
    }
    public var description: String { "\(hex2(device)).\(function)" }
  }

  public static let minimumLength = 6

  public var offset: Int
  public var kind: Kind
  public var length: UInt8
  /// The IOAPIC id, HPET number or ANDD device number; 0 for PCI devices.
  public var enumerationID: UInt8
  public var startBus: UInt8
  public var path: [PathElement]

  /// The device's bus:device.function when the path is a single hop (the common case; longer
  /// paths need the PCI topology to resolve).
  public var singleHopAddress: (bus: UInt8, device: UInt8, function: UInt8)? {
    guard path.count == 1 else { return nil }
    return (startBus, path[0].device, path[0].function)
  }

  public init(offset: Int, kind: Kind, length: UInt8, enumerationID: UInt8, startBus: UInt8, path: [PathElement]) {
    self.offset = offset
    self.kind = kind
    self.length = length
    self.enumerationID = enumerationID
    self.startBus = startBus
    self.path = path
  }
}

extension DMARDeviceScope {
  /// Parses the scope entries in `start..<end` of a remapping structure.
  /// Mirrors the walk of dmar_alloc_dev_scope(), drivers/iommu/intel/dmar.c (Linux 7.2), which
  /// warns "Unsupported device scope" for a type it does not know. Where the kernel would loop
  /// forever (a zero length) or read past the structure, this throws.
  static func parseAll(
    _ r: TableReader, from start: Int, to end: Int, findings: inout [FirmwareFinding]
  ) throws(FirmwareError) -> [DMARDeviceScope] {
    var scopes: [DMARDeviceScope] = []
    var at = start
    while at < end {
      guard end - at >= 2 else {
        throw .structurePastEnd(table: r.table, offset: at, length: 2, available: end - at)
      }
      let type = try r.u8(at)
      let length = Int(try r.u8(at + 1))
      guard length >= minimumLength else {
        throw .invalidField(table: r.table, offset: at + 1, field: "device scope length", value: UInt64(length))
      }
      guard at + length <= end else {
        throw .structurePastEnd(table: r.table, offset: at, length: length, available: end - at)
      }
      let kind = Kind(rawValue: type)
      if case .unknown = kind {
        findings.append(FirmwareFinding(table: r.table, offset: at, message: "Unsupported device scope"))
      }
      var path: [PathElement] = []
      // The kernel counts (length - 6) / 2 hops; an odd byte left over is ignored, as there.
      for i in 0..<((length - minimumLength) / 2) {
        let p = at + minimumLength + 2 * i
        path.append(PathElement(device: try r.u8(p), function: try r.u8(p + 1)))
      }
      scopes.append(
        DMARDeviceScope(
          offset: at, kind: kind, length: UInt8(length), enumerationID: try r.u8(at + 4),
          startBus: try r.u8(at + 5), path: path))
      at += length
    }
    return scopes
  }
}
