/// Why a register access was refused.
///
/// Every backend reports the same typed errors, so tests can expect an exact one:
/// `#expect(throws: IOError.outOfBounds(offset: 0x1000, width: .qword, size: 0x1000))`.
public enum IOError: Error, Sendable, Hashable, CustomStringConvertible {
  /// `offset + width` runs past the end of the region.
  case outOfBounds(offset: Int, width: AccessWidth, size: Int)
  /// `offset` is not a multiple of the access width.
  case misaligned(offset: Int, width: AccessWidth)
  /// The backend does not implement accesses of this width (a 64-bit config-space read).
  case unsupportedWidth(offset: Int, width: AccessWidth)
  /// The resource belongs to a device that was unbound or shut down (Rust-for-Linux's Devres).
  case revoked(device: String, offset: Int)
  /// A write reached a backend that only reads (a snapshot, or real hardware).
  case readOnly(offset: Int)

  public var description: String {
    switch self {
    case .outOfBounds(let offset, let width, let size):
      return
        "\(width.bits)-bit access at \(hex(offset)) is out of bounds (region size \(hex(size)))"
    case .misaligned(let offset, let width):
      return "\(width.bits)-bit access at \(hex(offset)) is misaligned"
    case .unsupportedWidth(let offset, let width):
      return "\(width.bits)-bit access at \(hex(offset)) is not supported by this backend"
    case .revoked(let device, let offset):
      return "access at \(hex(offset)) after \(device) was shut down or unbound"
    case .readOnly(let offset):
      return "write at \(hex(offset)) to a read-only backend"
    }
  }
}

/// `0x` followed by lower-case hex digits, padded to `digits`.
@inlinable public func hex<T: BinaryInteger>(_ value: T, digits: Int = 0) -> String {
  guard let v = UInt64(exactly: value) else {
    let s = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
  }
  return hexString(v, digits: digits, prefixed: true)
}

/// Lower-case hex digits without a prefix, padded to `digits`: `String(value, radix: 16)`
/// (zero-padded), as the kernel's `%x` / `%04x` print them.
@inlinable public func plainHex<T: BinaryInteger>(_ value: T, digits: Int = 0) -> String {
  guard let v = UInt64(exactly: value) else {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - s.count)) + s
  }
  return hexString(v, digits: digits, prefixed: false)
}

/// Digits written straight into the string: drivers and models format registers and
/// addresses into log lines on every boot, and `String(radix:)` plus concatenations cost
/// several times more.
@usableFromInline func hexString(_ v: UInt64, digits: Int, prefixed: Bool) -> String {
  let count = max(digits, (64 - v.leadingZeroBitCount + 3) / 4, 1)
  let start = prefixed ? 2 : 0
  return String(unsafeUninitializedCapacity: start + count) { buffer in
    if prefixed {
      buffer[0] = UInt8(ascii: "0")
      buffer[1] = UInt8(ascii: "x")
    }
    var rest = v
    for i in stride(from: start + count - 1, through: start, by: -1) {
      let digit = UInt8(truncatingIfNeeded: rest & 0xf)
      buffer[i] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") - 10 + digit
      rest >>= 4
    }
    return start + count
  }
}
