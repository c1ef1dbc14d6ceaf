/// Something wrong or noteworthy in a table that did not stop the parse: a bad checksum, a
/// reserved-memory range the kernel calls broken, a reference to a unit that is not there.
/// `message` holds the kernel's own words where the kernel prints one.
public struct FirmwareFinding: Sendable, Hashable, CustomStringConvertible {
  public enum Severity: String, Sendable, Hashable {
    /// The kernel warns (and may taint) but goes on using the table.
    case warning
    /// The kernel refuses the table or the structure (e.g. AMD-Vi on an IVRS with a bad checksum).
    case rejectedByKernel
  }

  public var table: String
  public var offset: Int
  public var severity: Severity
  public var message: String

  public init(table: String, offset: Int, severity: Severity = .warning, message: String) {
    self.table = table
    self.offset = offset
    self.severity = severity
    self.message = message
  }

  public var description: String { "\(table) @\(hex(offset)): \(message)" }
}

extension ACPITableHeader {
  /// The checksum byte that would make the table sum to zero.
  public func expectedChecksum(of bytes: [UInt8]) -> UInt8 {
    let sum = bytes.prefix(Int(length)).reduce(UInt8(0), &+)
    return checksum &- sum
  }

  /// ACPICA's warning for a bad checksum, as the kernel prints it at boot
  /// ("Incorrect checksum in table [DMAR] - 0x0B, should be 0x0C"), or nil when the table sums to 0.
  func checksumFinding(_ bytes: [UInt8], severity: FirmwareFinding.Severity = .warning) -> FirmwareFinding? {
    guard !checksumValid else { return nil }
    return FirmwareFinding(
      table: signature, offset: 9, severity: severity,
      message: "Incorrect checksum in table [\(signature)] - 0x\(hex2(checksum)), should be 0x"
        + hex2(expectedChecksum(of: bytes)))
  }
}

/// A table's bytes cut to the header's length, so that every read past the table's end is a
/// `truncated` error rather than a read of whatever follows it.
func tableReader(_ bytes: [UInt8], header: ACPITableHeader) -> TableReader {
  TableReader(table: header.signature, bytes: Array(bytes.prefix(Int(header.length))))
}

/// Two upper-case hex digits, as `%2.2X` prints them.
func hex2(_ v: UInt8) -> String {
  let s = String(v, radix: 16, uppercase: true)
  return s.count == 1 ? "0" + s : s
}

/// `%#018llx`: "0x" and 16 lower-case hex digits, as the kernel prints physical addresses.
func hex018(_ v: UInt64) -> String {
  let s = String(v, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, 16 - s.count)) + s
}
