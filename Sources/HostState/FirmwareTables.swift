import Firmware
import MMIO

/// One IOMMU-related ACPI table: whether it is there, readable, well-formed, and what it says.
public struct FirmwareTableReport: Sendable, Hashable, Encodable {
  /// `DMAR`, `IVRS` or `IORT`.
  public var signature: String
  public var path: String
  /// `absent`, `unreadable` (needs root), `parsed`, `header-only` (no parser for its content
  /// here) or `malformed`.
  public var status: String
  public var length: Int?
  public var revision: Int?
  public var oemID: String?
  public var checksumValid: Bool?
  /// For a malformed table: the parser's error, naming the table and the offset.
  public var error: String?
  /// What the table describes, one line per structure.
  public var structures: [String]
  /// Findings the kernel would warn about (bad checksum, missing DRHD, ...).
  public var findings: [String]
}

enum FirmwareTables {
  static let signatures = ["DMAR", "IORT", "IVRS"]

  static func read(directory: String) -> [FirmwareTableReport] {
    signatures.map { signature in
      let path = directory + "/" + signature
      var report = FirmwareTableReport(
        signature: signature, path: path, status: "absent", structures: [], findings: [])
      switch HostFiles.bytes(path) {
      case .failure(.absent): return report
      case .failure(let e):
        report.status = "unreadable"
        report.error = "\(path): \(e)"
        return report
      case .success(let bytes):
        return parse(signature: signature, bytes: bytes, into: report)
      }
    }
  }

  /// Parses a table's bytes; a malformed table is reported with the parser's error, never thrown.
  static func parse(signature: String, bytes: [UInt8], into base: FirmwareTableReport) -> FirmwareTableReport {
    var report = base
    do throws(FirmwareError) {
      let header = try ACPITableHeader(bytes, expecting: signature)
      report.length = Int(header.length)
      report.revision = Int(header.revision)
      report.oemID = header.oemID.trimmingCharacters(in: " \0")
      report.checksumValid = header.checksumValid
      switch signature {
      case "DMAR":
        let table = try DMARTable(bytes: bytes)
        report.structures = dmarLines(table)
        report.findings = table.findings.map(\.description)
        report.status = "parsed"
      default:
        report.status = "header-only"
        if !header.checksumValid { report.findings.append("\(signature): checksum does not sum to zero") }
      }
    } catch {
      report.status = "malformed"
      report.error = error.description
    }
    return report
  }

  static func dmarLines(_ t: DMARTable) -> [String] {
    var lines = ["host address width \(t.hostAddressWidth), flags \(hex(t.flags.rawValue, digits: 2))"]
    for s in t.structures {
      switch s {
      case .hardwareUnit(let u):
        let all = u.flags.contains(.includePCIAll) ? " INCLUDE_PCI_ALL" : ""
        lines.append(
          "DRHD @\(hex(u.offset)): base \(hex(u.registerBase)) segment \(u.segment) size \(hex(u.registerSetSize))\(all)"
            + scopeText(u.scopes))
      case .reservedMemory(let r):
        lines.append(
          "RMRR @\(hex(r.offset)): \(hex(r.baseAddress))-\(hex(r.endAddress)) segment \(r.segment)"
            + scopeText(r.scopes))
      case .rootPortATS(let a):
        lines.append(
          "ATSR @\(hex(a.offset)): segment \(a.segment)\(a.allPorts ? " ALL_PORTS" : "")" + scopeText(a.scopes))
      case .hardwareAffinity(let h):
        lines.append("RHSA @\(hex(h.offset)): base \(hex(h.registerBase)) proximity domain \(h.proximityDomain)")
      case .namespaceDevice(let n):
        lines.append("ANDD @\(hex(n.offset)): device \(n.deviceNumber) \(n.name)")
      case .socIntegratedATC(let s):
        lines.append(
          "SATC @\(hex(s.offset)): segment \(s.segment)\(s.atcRequired ? " ATC_REQUIRED" : "")" + scopeText(s.scopes))
      case .unknown(let type, let offset, let bytes):
        lines.append("type \(type) @\(hex(offset)): \(bytes.count) bytes (not used by Linux)")
      }
    }
    return lines
  }

  static func scopeText(_ scopes: [DMARDeviceScope]) -> String {
    guard !scopes.isEmpty else { return "" }
    let items = scopes.map { s -> String in
      let kind =
        switch s.kind {
        case .endpoint: "endpoint"
        case .bridge: "bridge"
        case .ioapic: "ioapic"
        case .hpet: "hpet"
        case .namespace: "namespace"
        case .unknown(let v): "type\(v)"
        }
      let path = s.path.map(\.description).joined(separator: "/")
      return "\(kind) \(hex(s.startBus, digits: 2).dropFirst(2)):\(path) id \(s.enumerationID)"
    }
    return "; scope: " + items.joined(separator: ", ")
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
