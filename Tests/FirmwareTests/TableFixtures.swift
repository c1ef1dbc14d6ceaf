import Firmware
import Foundation
import IOMMUModelTesting

/// Real tables from Tests/Fixtures/acpi and small synthetic ones built byte by byte.
enum TableFixtures {
  static let directory = RepositoryPaths.fixtures.appendingPathComponent("acpi")

  /// The raw bytes of a fixture `.dsl` file's Raw Table Data block.
  static func bytes(_ name: String) throws -> [UInt8] {
    let text = try RepositoryPaths.text(directory.appendingPathComponent(name))
    return try ACPITableSource.bytes(fromDisassembly: text, source: name)
  }

  /// A table with a correct header: signature, length, revision and a checksum that sums to zero.
  static func table(_ signature: String, revision: UInt8 = 1, body: [UInt8]) -> [UInt8] {
    var t = Array(signature.utf8) + le(UInt32(36 + body.count)) + [revision, 0]
    t += Array("OEMID ".utf8) + Array("TABLEID ".utf8) + le(UInt32(1)) + Array("TEST".utf8) + le(UInt32(1))
    t += body
    return fixChecksum(t)
  }

  /// Rewrites byte 9 so that the table sums to zero again.
  static func fixChecksum(_ bytes: [UInt8]) -> [UInt8] {
    var t = bytes
    t[9] = 0
    t[9] = 0 &- t.reduce(UInt8(0), &+)
    return t
  }

  /// `bytes` with `value` written little-endian at `offset` (and the checksum left as it falls).
  static func patch<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, _ value: T) -> [UInt8] {
    var t = bytes
    for (i, b) in le(value).enumerated() { t[offset + i] = b }
    return t
  }

  /// The first `length` bytes, with the header's length field saying so.
  static func cut(_ bytes: [UInt8], to length: Int) -> [UInt8] {
    patch(Array(bytes.prefix(length)), at: 4, UInt32(length))
  }

  static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
  }
}
