import MMIO

/// Sparse, page-granular simulated physical memory with owners.
///
/// RAM is declared in regions; pages are materialised on first write, and an unwritten page
/// reads as zeros. Accesses outside every region are refused with ``MemoryError/unbacked(address:length:)``
/// and nothing else changes: reports, not crashes.
public final class PhysicalMemory {
  public static let pageSize: UInt64 = 4096
  public static let pageShift: UInt64 = 12

  /// Regions of RAM, sorted by base, never overlapping.
  public private(set) var regions: [MemoryRegion] = []
  private var pages: [UInt64: [UInt8]] = [:]
  /// Called after every write with (address, length, owner of the first byte). The machine
  /// model uses it to account DMA.
  public var writeObserver: ((UInt64, Int, MemoryOwner) -> Void)?

  public init() {}

  /// Forgets every region, page and the observer: the memory of a machine powered off, to be
  /// declared again (the handover matrix reuses one memory and its hardware models).
  public func removeAll() {
    regions = []
    pages = [:]
    writeObserver = nil
  }

  /// Declares RAM at `base..<base+size`, owned by `owner`.
  public func addRAM(base: UInt64, size: UInt64, owner: MemoryOwner = .free) {
    precondition(base % Self.pageSize == 0 && size % Self.pageSize == 0, "RAM must be page aligned")
    precondition(
      !regions.contains { $0.base < base + size && base < $0.end }, "RAM regions overlap")
    regions.append(MemoryRegion(base: base, size: size, owner: owner))
    regions.sort { $0.base < $1.base }
  }

  /// Gives `base..<base+size` (inside declared RAM) to `owner`, splitting regions as needed.
  public func setOwner(_ owner: MemoryOwner, base: UInt64, size: UInt64) {
    let end = base + size
    var result: [MemoryRegion] = []
    for r in regions {
      guard r.base < end && base < r.end else {
        result.append(r)
        continue
      }
      if r.base < base {
        result.append(MemoryRegion(base: r.base, size: base - r.base, owner: r.owner))
      }
      let lo = max(r.base, base)
      let hi = min(r.end, end)
      result.append(MemoryRegion(base: lo, size: hi - lo, owner: owner))
      if r.end > end { result.append(MemoryRegion(base: end, size: r.end - end, owner: r.owner)) }
    }
    regions = coalesce(result)
  }

  private func coalesce(_ rs: [MemoryRegion]) -> [MemoryRegion] {
    var out: [MemoryRegion] = []
    for r in rs {
      if let last = out.last, last.end == r.base, last.owner == r.owner {
        out[out.count - 1].size += r.size
      } else {
        out.append(r)
      }
    }
    return out
  }

  /// The region holding `address`, or nil where no RAM is.
  public func region(containing address: UInt64) -> MemoryRegion? {
    var lo = 0
    var hi = regions.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if regions[mid].end <= address { lo = mid + 1 } else { hi = mid }
    }
    return lo < regions.count && regions[lo].contains(address) ? regions[lo] : nil
  }

  /// The owner of `address`, or nil where no RAM is.
  public func owner(of address: UInt64) -> MemoryOwner? { region(containing: address)?.owner }

  /// Whether every byte of `address..<address+length` is RAM.
  public func isBacked(_ address: UInt64, length: Int) -> Bool {
    var a = address
    let end = address + UInt64(length)
    while a < end {
      guard let r = region(containing: a) else { return false }
      a = r.end
    }
    return true
  }

  // MARK: Access

  public func read(_ address: UInt64, length: Int) throws(MemoryError) -> [UInt8] {
    guard isBacked(address, length: length) else {
      throw .unbacked(address: address, length: length)
    }
    var out = [UInt8](repeating: 0, count: length)
    var done = 0
    while done < length {
      let a = address + UInt64(done)
      let pfn = a >> Self.pageShift
      let inPage = Int(a & (Self.pageSize - 1))
      let n = min(length - done, Int(Self.pageSize) - inPage)
      if let page = pages[pfn] {
        out.replaceSubrange(done..<(done + n), with: page[inPage..<(inPage + n)])
      }
      done += n
    }
    return out
  }

  public func write(_ bytes: [UInt8], at address: UInt64) throws(MemoryError) {
    guard isBacked(address, length: bytes.count) else {
      throw .unbacked(address: address, length: bytes.count)
    }
    var done = 0
    while done < bytes.count {
      let a = address + UInt64(done)
      let pfn = a >> Self.pageShift
      let inPage = Int(a & (Self.pageSize - 1))
      let n = min(bytes.count - done, Int(Self.pageSize) - inPage)
      // Modified in place: a page is copied only when it is first materialised.
      pages[pfn, default: Self.zeroPage].replaceSubrange(
        inPage..<(inPage + n), with: bytes[done..<(done + n)])
      done += n
    }
    if let observer = writeObserver, let owner = owner(of: address) {
      observer(address, bytes.count, owner)
    }
  }

  private static let zeroPage = [UInt8](repeating: 0, count: Int(pageSize))

  /// Fills `address..<address+length` with `byte` (memset; zeroing a page drops its storage).
  public func fill(_ address: UInt64, length: Int, with byte: UInt8 = 0) throws(MemoryError) {
    guard isBacked(address, length: length) else {
      throw .unbacked(address: address, length: length)
    }
    if byte == 0 && address % Self.pageSize == 0 && UInt64(length) % Self.pageSize == 0 {
      for pfn in (address >> Self.pageShift)..<((address + UInt64(length)) >> Self.pageShift) {
        pages[pfn] = nil
      }
      return
    }
    try write([UInt8](repeating: byte, count: length), at: address)
  }

  /// A little-endian 64-bit load (how IOMMUs read table entries and commands).
  public func read64(_ address: UInt64) throws(MemoryError) -> UInt64 {
    let inPage = Int(address & (Self.pageSize - 1))
    // Fast path: an aligned load inside one page.
    if inPage & 7 == 0, region(containing: address) != nil {
      guard let page = pages[address >> Self.pageShift] else { return 0 }
      return UInt64(
        littleEndian: page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: inPage, as: UInt64.self) })
    }
    let b = try read(address, length: 8)
    return b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
  }

  public func write64(_ value: UInt64, at address: UInt64) throws(MemoryError) {
    let inPage = Int(address & (Self.pageSize - 1))
    // Fast path: an aligned store inside one page, without building a byte array.
    if inPage & 7 == 0, let region = region(containing: address) {
      pages[address >> Self.pageShift, default: Self.zeroPage].withUnsafeMutableBytes {
        $0.storeBytes(of: value.littleEndian, toByteOffset: inPage, as: UInt64.self)
      }
      writeObserver?(address, 8, region.owner)
      return
    }
    try write((0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }, at: address)
  }

  public func read32(_ address: UInt64) throws(MemoryError) -> UInt32 {
    let b = try read(address, length: 4)
    return b.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
  }

  public func write32(_ value: UInt32, at address: UInt64) throws(MemoryError) {
    try write((0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }, at: address)
  }

  /// Pages that hold data (written and not zeroed since), for reports and tests.
  public var materializedPageCount: Int { pages.count }
}
