/// Little-endian loads and stores of 1, 2, 4 or 8 bytes in a byte buffer, shared by the
/// simulated register file and the snapshot backend.
@usableFromInline
struct RawBytes {
  // SAFETY: `base` points at `count` bytes owned by the enclosing backend, which frees them in
  // its deinit; every caller has passed checkAccess(), so offset + width <= count.
  @usableFromInline let base: UnsafeMutableRawPointer
  @usableFromInline let count: Int

  @usableFromInline
  init(count: Int, fill: UInt8 = 0) {
    self.count = count
    base = .allocate(byteCount: max(count, 1), alignment: 16)
    base.initializeMemory(as: UInt8.self, repeating: fill, count: max(count, 1))
  }

  @usableFromInline func free() { base.deallocate() }

  @inlinable @inline(__always)
  func load(_ width: AccessWidth, at offset: Int) -> UInt64 {
    switch width {
    case .byte: return UInt64(base.load(fromByteOffset: offset, as: UInt8.self))
    case .word:
      return UInt64(
        UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    case .dword:
      return UInt64(
        UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    case .qword:
      return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
  }

  @inlinable @inline(__always)
  func store(_ value: UInt64, _ width: AccessWidth, at offset: Int) {
    switch width {
    case .byte:
      base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
    case .word:
      base.storeBytes(
        of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: offset, as: UInt16.self)
    case .dword:
      base.storeBytes(
        of: UInt32(truncatingIfNeeded: value).littleEndian, toByteOffset: offset, as: UInt32.self)
    case .qword: base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }
  }
}
