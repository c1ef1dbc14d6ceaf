import Firmware
import MMIO

/// One IOMMU-related ACPI table: whether it is there, readable, well-formed, and what it says.
public struct FirmwareTableReport: Sendable, Hashable, Encodable {
  /// `DMAR`, `IVRS` or `IORT`.
  public var signature: String
  public var path: String
  /// `absent`, `unreadable` (needs root), `parsed` or `malformed`.
  public var status: String
  public var length: Int?
  public var revision: Int?
  public var oemID: String?
  public var checksumValid: Bool?
  /// For a malformed table, the parser's error naming the table and the offset; for an
  /// unreadable one, why.
  public var error: String?
  /// What the table describes, one line per structure (the Firmware module's summary).
  public var structures: [String]
  /// Findings the kernel would warn about (bad checksum, missing DRHD, ...).
  public var findings: [String]
}

/// The tables, read and parsed by the Firmware module's loader (DMAR, IVRS and IORT parsers,
/// raw binary or iasl `.dsl` files); a malformed table is reported, never thrown.
enum FirmwareTables {
  static func read(directory: String) -> (reports: [FirmwareTableReport], tables: [FirmwareTable]) {
    let loads = FirmwareTableLoader.load(directory: directory)
    return (loads.map(report).sorted { $0.signature < $1.signature }, loads.compactMap(\.table))
  }

  static func report(_ load: FirmwareTableLoad) -> FirmwareTableReport {
    var report = FirmwareTableReport(
      signature: load.signature, path: load.path, status: "absent", structures: [], findings: [])
    switch load.outcome {
    case .missing:
      break
    case .unreadable(let reason):
      report.status = "unreadable"
      report.error = "\(load.path): \(reason)"
    case .malformed(let error):
      report.status = "malformed"
      report.error = error.description
    case .parsed(let table):
      let header = table.header
      report.status = "parsed"
      report.length = Int(header.length)
      report.revision = Int(header.revision)
      report.oemID = header.oemID.trimmingCharacters(in: " \0")
      report.checksumValid = header.checksumValid
      report.structures = table.summaryLines
      report.findings = table.findings.map(\.description)
    }
    return report
  }

  /// The DRHD of `dmar` whose register base is `address` (a unit's sysfs `address`), named.
  static func drhd(at address: UInt64, in tables: [FirmwareTable]) -> String? {
    for case .dmar(let dmar) in tables {
      for u in dmar.hardwareUnits where u.registerBase == address {
        return "DRHD @\(hex(u.offset)) segment \(u.segment)"
          + (u.flags.contains(.includePCIAll) ? " INCLUDE_PCI_ALL" : "")
      }
    }
    return nil
  }
}

extension String {
  func trimmingCharacters(in set: String) -> String {
    var s = Substring(self)
    while let f = s.first, set.contains(f) { s.removeFirst() }
    while let l = s.last, set.contains(l) { s.removeLast() }
    return String(s)
  }
}
