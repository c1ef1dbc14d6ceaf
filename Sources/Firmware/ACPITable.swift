/// Why a firmware table could not be parsed. Every case names the table and the byte offset,
/// so a user can find the bad byte in `acpidump` output.
public enum FirmwareError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The table ends before a field that should be there.
  case truncated(table: String, offset: Int, needed: Int, available: Int)
  /// The header's signature is not the one expected.
  case badSignature(expected: String, found: String)
  /// The header's length disagrees with the bytes given.
  case badLength(table: String, headerLength: Int, available: Int)
  /// A field holds a value the specification does not allow.
  case invalidField(table: String, offset: Int, field: String, value: UInt64)
  /// The text holds no `Raw Table Data` block (an iasl disassembly is expected).
  case noRawData(source: String)
  /// A line of the raw data block could not be read.
  case badHexLine(source: String, line: Int, text: String)
  /// A structure (subtable, node, device scope) whose length runs past the end of what holds it
  /// (the kernel's "Record passes table end").
  case structurePastEnd(table: String, offset: Int, length: Int, available: Int)
  /// A structure the kernel refuses for a reason no other case names; `reason` is the kernel's words.
  case malformed(table: String, offset: Int, reason: String)

  public var description: String {
    switch self {
    case .truncated(let t, let o, let n, let a):
      "\(t): truncated at offset \(hex(o)): \(n) bytes needed, \(a) available"
    case .badSignature(let e, let f): "expected an \(e) table, found signature \"\(f)\""
    case .badLength(let t, let h, let a): "\(t): header length \(h) but \(a) bytes given"
    case .invalidField(let t, let o, let f, let v): "\(t): invalid \(f) \(hex(v)) at offset \(hex(o))"
    case .noRawData(let s): "\(s): no \"Raw Table Data\" block"
    case .badHexLine(let s, let l, let t): "\(s):\(l): cannot read hex dump line: \(t)"
    case .structurePastEnd(let t, let o, let l, let a):
      "\(t): structure at offset \(hex(o)) has length \(l) but only \(a) bytes remain"
    case .malformed(let t, let o, let r): "\(t): at offset \(hex(o)): \(r)"
    }
  }
}

/// Little-endian reads from a table's bytes, each checked against the table's end.
public struct TableReader: Sendable {
  public let table: String
  public let bytes: [UInt8]

  public init(table: String, bytes: [UInt8]) {
    self.table = table
    self.bytes = bytes
  }

  public func check(_ offset: Int, _ count: Int) throws(FirmwareError) {
    guard offset >= 0, count >= 0, offset + count <= bytes.count else {
      throw .truncated(table: table, offset: offset, needed: count, available: max(0, bytes.count - offset))
    }
  }

  public func u8(_ offset: Int) throws(FirmwareError) -> UInt8 {
    try check(offset, 1)
    return bytes[offset]
  }

  public func u16(_ offset: Int) throws(FirmwareError) -> UInt16 { UInt16(truncatingIfNeeded: try uint(offset, 2)) }
  public func u32(_ offset: Int) throws(FirmwareError) -> UInt32 { UInt32(truncatingIfNeeded: try uint(offset, 4)) }
  public func u64(_ offset: Int) throws(FirmwareError) -> UInt64 { try uint(offset, 8) }

  /// An unsigned little-endian integer of `count` bytes (1...8).
  public func uint(_ offset: Int, _ count: Int) throws(FirmwareError) -> UInt64 {
    try check(offset, count)
    var v: UInt64 = 0
    for i in 0..<count { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
    return v
  }

  /// `count` bytes as ASCII, trailing NULs and spaces kept as they are.
  public func ascii(_ offset: Int, _ count: Int) throws(FirmwareError) -> String {
    try check(offset, count)
    return String(decoding: bytes[offset..<(offset + count)], as: UTF8.self)
  }

  /// A NUL-terminated string inside `offset..<offset+count`.
  public func cString(_ offset: Int, maxLength count: Int) throws(FirmwareError) -> String {
    try check(offset, count)
    let slice = bytes[offset..<(offset + count)]
    return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
  }

  public func slice(_ offset: Int, _ count: Int) throws(FirmwareError) -> [UInt8] {
    try check(offset, count)
    return Array(bytes[offset..<(offset + count)])
  }
}

/// The 36-byte System Description Table header every ACPI table starts with.
public struct ACPITableHeader: Sendable, Hashable {
  public static let size = 36
  public var signature: String
  public var length: UInt32
  public var revision: UInt8
  public var checksum: UInt8
  public var oemID: String
  public var oemTableID: String
  public var oemRevision: UInt32
  public var creatorID: String
  public var creatorRevision: UInt32
  /// Whether all bytes of the table sum to zero (mod 256). A bad checksum is reported, not fatal:
  /// the kernel only warns about it too.
  public var checksumValid: Bool

  /// Parses the header of `bytes`, which must hold at least `length` bytes.
  public init(_ bytes: [UInt8], expecting expected: String? = nil) throws(FirmwareError) {
    let r = TableReader(table: expected ?? "ACPI table", bytes: bytes)
    signature = try r.ascii(0, 4)
    if let expected, signature != expected { throw .badSignature(expected: expected, found: signature) }
    length = try r.u32(4)
    guard Int(length) >= Self.size, Int(length) <= bytes.count else {
      throw .badLength(table: signature, headerLength: Int(length), available: bytes.count)
    }
    revision = try r.u8(8)
    checksum = try r.u8(9)
    oemID = try r.ascii(10, 6)
    oemTableID = try r.ascii(16, 8)
    oemRevision = try r.u32(24)
    creatorID = try r.ascii(28, 4)
    creatorRevision = try r.u32(32)
    checksumValid = bytes[0..<Int(length)].reduce(UInt8(0), &+) == 0
  }
}

/// Reading tables as users have them: raw binary (`/sys/firmware/acpi/tables/DMAR`,
/// `acpidump -b`) or an iasl disassembly with its `Raw Table Data` hex block.
public enum ACPITableSource {
  /// The bytes of an iasl `.dsl` file's `Raw Table Data` block.
  public static func bytes(fromDisassembly text: String, source: String) throws(FirmwareError) -> [UInt8] {
    var out: [UInt8] = []
    var inRaw = false
    for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      if line.contains("Raw Table Data") {
        inRaw = true
        continue
      }
      guard inRaw else { continue }
      let t = line.drop { $0 == " " || $0 == "\t" }
      if t.isEmpty { continue }
      guard let colon = t.firstIndex(of: ":"), t[..<colon].allSatisfy(\.isHexDigit) else { break }
      // A line may hold nothing but a comment after its offset ("0050: // ...").
      let hexPart = t[t.index(after: colon)...].split(separator: "/", maxSplits: 1).first ?? ""
      for word in hexPart.split(separator: " ") {
        guard word.count == 2, let b = UInt8(word, radix: 16) else {
          throw .badHexLine(source: source, line: n + 1, text: String(line))
        }
        out.append(b)
      }
    }
    guard inRaw, !out.isEmpty else { throw .noRawData(source: source) }
    return out
  }
}

@inlinable func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
