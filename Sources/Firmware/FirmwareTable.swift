/// A parsed IOMMU firmware table, whichever of the three it is.
public enum FirmwareTable: Sendable, Hashable {
  case dmar(DMARTable)
  case iort(IORTTable)
  case ivrs(IVRSTable)

  /// The signatures this module parses, in the order reports list them.
  public static let supportedSignatures = [DMARTable.signature, IVRSTable.signature, IORTTable.signature]

  /// Parses `bytes` by the signature in their first four bytes. Any other signature is
  /// `badSignature` (expected "DMAR, IVRS or IORT").
  public init(bytes: [UInt8]) throws(FirmwareError) {
    let signature = try TableReader(table: "ACPI table", bytes: bytes).ascii(0, 4)
    switch signature {
    case DMARTable.signature: self = .dmar(try DMARTable(bytes: bytes))
    case IVRSTable.signature: self = .ivrs(try IVRSTable(bytes: bytes))
    case IORTTable.signature: self = .iort(try IORTTable(bytes: bytes))
    default: throw .badSignature(expected: Self.supportedSignatures.joined(separator: ", "), found: signature)
    }
  }

  public var header: ACPITableHeader {
    switch self {
    case .dmar(let t): t.header
    case .iort(let t): t.header
    case .ivrs(let t): t.header
    }
  }

  public var signature: String { header.signature }

  public var findings: [FirmwareFinding] {
    switch self {
    case .dmar(let t): t.findings
    case .iort(let t): t.findings
    case .ivrs(let t): t.findings
    }
  }

  public var dmar: DMARTable? { if case .dmar(let t) = self { t } else { nil } }
  public var iort: IORTTable? { if case .iort(let t) = self { t } else { nil } }
  public var ivrs: IVRSTable? { if case .ivrs(let t) = self { t } else { nil } }
}
