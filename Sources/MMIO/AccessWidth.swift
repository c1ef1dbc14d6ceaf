/// The width of one register access, in bytes.
///
/// MMIO backends accept 8, 16, 32 and 64-bit accesses; PCI configuration space accepts
/// 8, 16 and 32-bit accesses only (`pci_read_config_{byte,word,dword}`).
public enum AccessWidth: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
  case byte = 1
  case word = 2
  case dword = 4
  case qword = 8

  /// The width in bits (8, 16, 32 or 64).
  @inlinable public var bits: Int { rawValue &* 8 }

  /// A mask with the low `bits` bits set.
  @inlinable public var valueMask: UInt64 {
    self == .qword ? ~0 : (1 &<< UInt64(bits)) &- 1
  }

  /// The access width of an unsigned integer type.
  @inlinable public init<T: FixedWidthInteger & UnsignedInteger>(of _: T.Type) {
    switch T.bitWidth {
    case 8: self = .byte
    case 16: self = .word
    case 32: self = .dword
    default: self = .qword
    }
  }

  public init?(bits: Int) {
    guard let w = AccessWidth(rawValue: bits / 8), bits % 8 == 0 else { return nil }
    self = w
  }

  public var description: String { String(bits) }

  public static func < (a: AccessWidth, b: AccessWidth) -> Bool { a.rawValue < b.rawValue }
}

/// The set of access widths a backend supports.
public struct AccessWidths: OptionSet, Sendable, Hashable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let byte = AccessWidths(rawValue: 1)
  public static let word = AccessWidths(rawValue: 2)
  public static let dword = AccessWidths(rawValue: 4)
  public static let qword = AccessWidths(rawValue: 8)

  /// Memory-mapped I/O: 8, 16, 32 and 64-bit accesses.
  public static let mmio: AccessWidths = [.byte, .word, .dword, .qword]
  /// PCI configuration space: 8, 16 and 32-bit accesses (no 64-bit config cycles).
  public static let configSpace: AccessWidths = [.byte, .word, .dword]

  @inlinable public func supports(_ width: AccessWidth) -> Bool {
    rawValue & UInt8(truncatingIfNeeded: width.rawValue) != 0
  }
}
