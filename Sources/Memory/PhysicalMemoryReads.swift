/// Reads of ``PhysicalMemory``: none of them materialises a page (an unwritten page reads as
/// zeros).
extension PhysicalMemory {
  public func read(_ address: UInt64, length: Int) throws(MemoryError) -> [UInt8] {
    guard isBacked(address, length: length) else {
      throw .unbacked(address: address, length: length)
    }
    return [UInt8](unsafeUninitializedCapacity: length) { out, count in
      var done = 0
      while done < length {
        let a = address + UInt64(done)
        let inPage = Int(a & (Self.pageSize - 1))
        let n = min(length - done, Int(Self.pageSize) - inPage)
        let target = UnsafeMutableRawPointer(out.baseAddress! + done)
        if let page = frame(a >> Self.pageShift) {
          target.copyMemory(from: page + inPage, byteCount: n)
        } else {
          target.initializeMemory(as: UInt8.self, repeating: 0, count: n)
        }
        done += n
      }
      count = length
    }
  }

  /// Whether every byte of `address..<address+length` is zero, without copying it out (pages
  /// never written are zero at once).
  public func isZero(_ address: UInt64, length: Int) throws(MemoryError) -> Bool {
    guard isBacked(address, length: length) else {
      throw .unbacked(address: address, length: length)
    }
    var done = 0
    while done < length {
      let a = address + UInt64(done)
      let inPage = Int(a & (Self.pageSize - 1))
      let n = min(length - done, Int(Self.pageSize) - inPage)
      if let page = frame(a >> Self.pageShift) {
        let bytes = UnsafeRawBufferPointer(start: page + inPage, count: n)
        if bytes.contains(where: { $0 != 0 }) { return false }
      }
      done += n
    }
    return true
  }

  /// A little-endian 64-bit load (how IOMMUs read table entries and commands).
  // Inlined into the hardware models' table walks, so that the common case (an aligned load
  // from a page that holds data, in the chunk at hand) costs no call; 2 MiB chunks of 4 KiB
  // pages spelled out, as inlined code cannot see `PageChunk`. The rest is out of line.
  @inlinable
  public func read64(_ address: UInt64) throws(MemoryError) -> UInt64 {
    if address & 7 == 0, address >> 21 == lastChunkKey, let frames = lastFrames,
      let page = frames[Int((address >> 12) & 511)]
    {
      return UInt64(littleEndian: page.load(fromByteOffset: Int(address & 4095), as: UInt64.self))
    }
    return try load64(address)
  }

  @usableFromInline @inline(never)
  func load64(_ address: UInt64) throws(MemoryError) -> UInt64 { try load(address) }

  public func read32(_ address: UInt64) throws(MemoryError) -> UInt32 { try load(address) }

  /// A little-endian load of `T`. Fast path: an aligned load inside one page. A page that holds
  /// data is RAM (pages are only materialised by writes to RAM), so only an empty page needs
  /// the region lookup.
  @inline(__always)
  private func load<T: FixedWidthInteger & UnsignedInteger>(_ address: UInt64) throws(MemoryError) -> T {
    let size = MemoryLayout<T>.size
    let inPage = Int(address & (Self.pageSize - 1))
    if inPage & (size - 1) == 0 {
      if let page = frame(address >> Self.pageShift) {
        return T(littleEndian: page.load(fromByteOffset: inPage, as: T.self))
      }
      if regionIndex(containing: address) != nil { return 0 }
    }
    let b = try read(address, length: size)
    return b.enumerated().reduce(0) { $0 | T($1.element) << (8 * T($1.offset)) }
  }
}
