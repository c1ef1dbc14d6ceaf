/// A region of registers that can be read: simulated MMIO, a captured snapshot, or real
/// PCI configuration space through libpci.
///
/// Backends implement ``uncheckedRead(_:at:)`` only; callers go through ``read(_:at:)``, which
/// checks width support, bounds and alignment in one place (Rust-for-Linux's
/// `Io::offset_valid`: `offset + width <= size && offset % width == 0`).
public protocol RegisterIO {
  /// The region's size in bytes.
  var size: Int { get }
  /// The access widths this backend implements.
  var supportedWidths: AccessWidths { get }
  /// Reads `width` bytes at `offset`, which the caller has already checked.
  func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64
}

/// A region of registers that can also be written. Real hardware backends never conform:
/// writing to the real host does not compile.
public protocol WritableRegisterIO: RegisterIO {
  /// Writes the low `width` bytes of `value` at `offset`, which the caller has already checked.
  func uncheckedWrite(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError)
}

/// The one place where accesses are validated, for a backend of `size` bytes that implements
/// `supportedWidths`. A caller that keeps these at hand (they never change for a backend)
/// checks without asking the backend on every access.
@inlinable @inline(__always)
public func checkRegisterAccess(
  _ width: AccessWidth, at offset: Int, size: Int, supportedWidths: AccessWidths
) throws(IOError) {
  guard supportedWidths.supports(width) else {
    throw .unsupportedWidth(offset: offset, width: width)
  }
  guard offset >= 0, offset <= size &- width.rawValue else {
    throw .outOfBounds(offset: offset, width: width, size: size)
  }
  guard offset & (width.rawValue &- 1) == 0 else {
    throw .misaligned(offset: offset, width: width)
  }
}

extension RegisterIO {
  /// Validates an access (``checkRegisterAccess(_:at:size:supportedWidths:)``).
  @inlinable @inline(__always)
  public func checkAccess(_ width: AccessWidth, at offset: Int) throws(IOError) {
    try checkRegisterAccess(width, at: offset, size: size, supportedWidths: supportedWidths)
  }

  /// Reads a `width`-wide value at `offset`, checked.
  @inlinable
  public func read(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    try checkAccess(width, at: offset)
    return try uncheckedRead(width, at: offset)
  }

  /// Reads an unsigned integer at `offset`, checked: `try io.read(UInt32.self, at: 0x48)`.
  // Always inlined: called on an existential it ran unspecialized, asking `T` for its width.
  @inlinable @inline(__always)
  public func read<T: FixedWidthInteger & UnsignedInteger>(
    _: T.Type, at offset: Int
  ) throws(IOError) -> T {
    T(truncatingIfNeeded: try read(AccessWidth(of: T.self), at: offset))
  }

  /// Reads a typed register at its own offset: `try io.read(DDTP.self)`.
  @inlinable
  public func read<R: Register>(_: R.Type) throws(IOError) -> R {
    R(raw: try read(R.Raw.self, at: R.offset))
  }

  /// Reads element `index` of a register array (`SMR(n)`, `MSI_CFG_TBL(n)`).
  @inlinable
  public func read<R: RegisterArray>(_: R.Type, index: Int) throws(IOError) -> R {
    R(raw: try read(R.Raw.self, at: try R.offset(index: index)))
  }

  // Kernel-style accessors, for code that mirrors readl()/readq() line by line. They name the
  // width themselves: called on an existential, the generic `read(_:at:)` ran unspecialized,
  // asking the type for its width on every access.
  @inlinable public func readb(_ offset: Int) throws(IOError) -> UInt8 {
    UInt8(truncatingIfNeeded: try read(.byte, at: offset))
  }
  @inlinable public func readw(_ offset: Int) throws(IOError) -> UInt16 {
    UInt16(truncatingIfNeeded: try read(.word, at: offset))
  }
  @inlinable public func readl(_ offset: Int) throws(IOError) -> UInt32 {
    UInt32(truncatingIfNeeded: try read(.dword, at: offset))
  }
  @inlinable public func readq(_ offset: Int) throws(IOError) -> UInt64 {
    try read(.qword, at: offset)
  }
}

extension WritableRegisterIO {
  /// Writes a `width`-wide value at `offset`, checked.
  @inlinable
  public func write(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError) {
    try checkAccess(width, at: offset)
    try uncheckedWrite(value & width.valueMask, width, at: offset)
  }

  /// Writes an unsigned integer at `offset`, checked.
  // Always inlined: called on an existential it ran unspecialized, asking `T` for its width.
  @inlinable @inline(__always)
  public func write<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int)
    throws(IOError)
  {
    try write(UInt64(truncatingIfNeeded: value), AccessWidth(of: T.self), at: offset)
  }

  /// Writes a typed register at its own offset.
  @inlinable
  public func write<R: Register>(_ register: R) throws(IOError) {
    try write(register.raw, at: R.offset)
  }

  /// Writes element `index` of a register array.
  @inlinable
  public func write<R: RegisterArray>(_ register: R, index: Int) throws(IOError) {
    try write(register.raw, at: try R.offset(index: index))
  }

  /// Read-modify-write of a typed register, where the closure describes the state wanted.
  ///
  /// Write-1-to-clear bits are never written back as they were read: a W1C bit is written as 1
  /// only when it read as 1 and the closure cleared it (the caller asked for it to become 0).
  /// Every other W1C bit is written as 0, which leaves it alone.
  @inlinable
  @discardableResult
  public func update<R: Register>(_: R.Type, _ body: (inout R) throws(IOError) -> Void)
    throws(IOError) -> R
  {
    let old = try read(R.self)
    var new = old
    try body(&new)
    let written = R.valueToWrite(old: old, wanted: new)
    try write(written)
    return written
  }

  // As the read accessors: the width named, not asked of a generic type.
  @inlinable public func writeb(_ value: UInt8, _ offset: Int) throws(IOError) {
    try write(UInt64(value), .byte, at: offset)
  }
  @inlinable public func writew(_ value: UInt16, _ offset: Int) throws(IOError) {
    try write(UInt64(value), .word, at: offset)
  }
  @inlinable public func writel(_ value: UInt32, _ offset: Int) throws(IOError) {
    try write(UInt64(value), .dword, at: offset)
  }
  @inlinable public func writeq(_ value: UInt64, _ offset: Int) throws(IOError) {
    try write(value, .qword, at: offset)
  }
}
