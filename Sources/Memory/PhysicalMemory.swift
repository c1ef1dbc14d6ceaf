import MMIO

/// Sparse, page-granular simulated physical memory with owners.
///
/// RAM is declared in regions; pages are materialised on first write, and an unwritten page
/// reads as zeros. Accesses outside every region are refused with ``MemoryError/unbacked(address:length:)``
/// and nothing else changes: reports, not crashes.
public final class PhysicalMemory {
  public static let pageSize: UInt64 = 4096
  public static let pageShift: UInt64 = 12

  // The state below is touched on every access: no access ever overlaps another (nothing
  // calls out while one is in progress), so the dynamic exclusivity checks are left out.

  /// Regions of RAM, sorted by base, never overlapping: bounds and an owner numbered in
  /// ``owners``, so lookups and owner changes touch no string and count no reference.
  @exclusivity(unchecked) var spans: [RegionSpan] = []
  /// Every owner a region was ever given, numbered (``MemoryOwnerID``); kept for the memory's
  /// lifetime, so an id stays valid across ``removeAll()``.
  var owners = OwnerTable()
  /// No two neighbouring regions have the same owner (true after every ``setOwner``).
  @exclusivity(unchecked) var coalesced = true
  /// Where the last lookup found its region: accesses cluster, so most lookups start there.
  @exclusivity(unchecked) var lastRegion = 0
  /// Materialised pages, in 2 MiB chunks, with the last chunk used at hand: table walks and
  /// queue writes stay in a few chunks, so most accesses skip the hash lookup.
  @exclusivity(unchecked) private var chunks: [UInt64: PageChunk] = [:]
  @exclusivity(unchecked) private var lastChunkKey = UInt64.max
  /// The frames of the chunk at `lastChunkKey` (nil: none there); the chunk itself is kept
  /// alive by `chunks`, so the hot path holds no reference to count.
  @exclusivity(unchecked) private var lastFrames: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
  @exclusivity(unchecked) private var pageCount = 0
  /// Page storage no longer in use, kept for the next pages materialised (a machine powered on
  /// again reuses its memory's pages instead of going back to the allocator).
  @exclusivity(unchecked) private var spareFrames: [UnsafeMutableRawPointer] = []
  /// Spare storage with much of it written (a payload, the kexec scribble): given first to
  /// writes of whole pages, which need no zeroing, so that the others get little to zero.
  @exclusivity(unchecked) private var dirtySpareFrames: [UnsafeMutableRawPointer] = []
  private static let maxSpareFrames = 4096
  /// Called after every write with (address, length, owner of the first byte), for a user who
  /// wants to see writes as they happen (the handover machine only needs which pages were
  /// written, and uses the cheaper ``tracksWrittenPages``).
  @exclusivity(unchecked) public var writeObserver: ((UInt64, Int, MemoryOwner) -> Void)?
  // The machine sets it from another module, which does not see `@exclusivity(unchecked)`:
  // an accessor over the unchecked storage.
  /// While set, every page written is noted for ``writtenPages`` (cheaper than an observer:
  /// no call, no owner copied per write).
  public var tracksWrittenPages: Bool {
    @inlinable get { uncheckedTracksWrittenPages }
    set { uncheckedTracksWrittenPages = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedTracksWrittenPages = false
  /// Each page as a run of writes reaches it, repeats included (sorted once, when asked).
  @exclusivity(unchecked) private var notedPages: [UInt64] = []
  @exclusivity(unchecked) private var lastNotedPage = UInt64.max

  public init() {}

  deinit {
    for frame in spareFrames { frame.deallocate() }
    for frame in dirtySpareFrames { frame.deallocate() }
  }

  /// Forgets every region, page and the observer: the memory of a machine powered off, to be
  /// declared again (the handover matrix reuses one memory and its hardware models).
  public func removeAll() {
    spans.removeAll(keepingCapacity: true)
    lastRegion = 0
    coalesced = true
    // The chunks stay (empty), for the pages of the next power-on: most land in the same ones.
    for chunk in chunks.values where PageChunk.live(chunk.frames) > 0 { recycleFrames(of: chunk) }
    pageCount = 0
    writeObserver = nil
    tracksWrittenPages = false
    // Kept allocated: the next power-on notes about as many pages.
    notedPages.removeAll(keepingCapacity: true)
    lastNotedPage = .max
  }

  /// The pages written while ``tracksWrittenPages`` was set, ascending, each once.
  public var writtenPages: [UInt64] {
    // Sorted in place (the order they were noted in is of no further use), not copied first.
    notedPages.sort()
    var unique: [UInt64] = []
    unique.reserveCapacity(notedPages.count)
    for page in notedPages where page != unique.last { unique.append(page) }
    return unique
  }

  @inline(__always)
  private func noteWritten(_ address: UInt64, _ length: Int) {
    let first = address >> Self.pageShift
    let last = (address + UInt64(max(length, 1)) - 1) >> Self.pageShift
    // Writes come in runs on one page (a table, a queue): note the run once.
    if first == last && first == lastNotedPage { return }
    // One page at a time: appending a range goes through a generic path.
    for page in first...last { notedPages.append(page) }
    lastNotedPage = last
  }

  // MARK: Pages

  /// The storage of page `pfn`, or nil while it was never written (it reads as zeros).
  @inline(__always)
  private func frame(_ pfn: UInt64) -> UnsafeMutableRawPointer? {
    chunkFrames(pfn >> PageChunk.shift)?[Int(pfn & PageChunk.mask)]
  }

  @inline(__always)
  private func chunkFrames(_ key: UInt64) -> UnsafeMutablePointer<UnsafeMutableRawPointer?>? {
    if key == lastChunkKey { return lastFrames }
    let frames = chunks[key]?.frames
    lastChunkKey = key
    lastFrames = frames
    return frames
  }

  /// The storage of page `pfn`, materialised on first use, for a write of `count` bytes at
  /// `offset` (noted in the page's dirty extent): zeroed where it may hold old data, unless
  /// the write covers all of it.
  private func materialize(_ pfn: UInt64, writing offset: Int, count: Int) -> UnsafeMutableRawPointer {
    let key = pfn >> PageChunk.shift
    let frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    if let existing = chunkFrames(key) {
      frames = existing
    } else {
      let c = PageChunk()
      chunks[key] = c
      frames = c.frames
      lastChunkKey = key
      lastFrames = frames
    }
    let slot = Int(pfn & PageChunk.mask)
    if let page = frames[slot] {
      Self.markDirty(page, offset, count)
      return page
    }
    let whole = count == Int(Self.pageSize)
    let page =
      (whole
        ? dirtySpareFrames.popLast() ?? spareFrames.popLast()
        : spareFrames.popLast() ?? dirtySpareFrames.popLast()) ?? Self.allocateFrame()
    // Only the bytes a page's earlier life may have written need zeroing: a recycled page
    // table page had a few entries, not 4 KiB, written (zeroing whole pages cost 3 % of time).
    if !whole {
      let dirty = Self.dirtyExtent(page)
      if dirty.lowerBound < dirty.upperBound {
        (page + dirty.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: dirty.count)
      }
      Self.setDirty(page, offset, offset + count)
    } else {
      Self.setDirty(page, 0, Int(Self.pageSize))
    }
    frames[slot] = page
    PageChunk.addLive(frames, 1)
    PageChunk.noteUsed(frames, slot: slot)
    pageCount += 1
    return page
  }

  // Each frame is a page followed by its dirty extent: two UInt16, the bounds of the bytes that
  // may be nonzero (every write widens it), so that a recycled frame is zeroed only there.
  private static let frameBytes = Int(pageSize) + 4

  private static func allocateFrame() -> UnsafeMutableRawPointer {
    let page = UnsafeMutableRawPointer.allocate(byteCount: frameBytes, alignment: 16)
    // Fresh storage holds anything: all of it is dirty.
    setDirty(page, 0, Int(pageSize))
    return page
  }

  @inline(__always)
  private static func dirtyExtent(_ page: UnsafeMutableRawPointer) -> Range<Int> {
    let bounds = page.load(fromByteOffset: Int(pageSize), as: UInt32.self)
    return Int(bounds & 0xffff)..<max(Int(bounds & 0xffff), Int(bounds >> 16))
  }

  @inline(__always)
  private static func setDirty(_ page: UnsafeMutableRawPointer, _ lower: Int, _ upper: Int) {
    page.storeBytes(of: UInt32(lower) | UInt32(upper) << 16, toByteOffset: Int(pageSize), as: UInt32.self)
  }

  /// Widens the dirty extent of `page` over `count` bytes at `offset`.
  @inline(__always)
  private static func markDirty(_ page: UnsafeMutableRawPointer, _ offset: Int, _ count: Int) {
    let bounds = page.load(fromByteOffset: Int(pageSize), as: UInt32.self)
    let lower = Int(bounds & 0xffff)
    let upper = Int(bounds >> 16)
    if offset < lower || offset + count > upper {
      setDirty(page, min(lower, offset), max(upper, offset + count))
    }
  }

  /// Drops page `pfn`'s storage: it reads as zeros again.
  private func dropFrame(_ pfn: UInt64) {
    guard let frames = chunkFrames(pfn >> PageChunk.shift) else { return }
    let slot = Int(pfn & PageChunk.mask)
    guard let page = frames[slot] else { return }
    recycle(page)
    frames[slot] = nil
    PageChunk.addLive(frames, -1)
    pageCount -= 1
  }

  private func recycle(_ page: UnsafeMutableRawPointer) {
    guard spareFrames.count + dirtySpareFrames.count < Self.maxSpareFrames else {
      page.deallocate()
      return
    }
    if Self.dirtyExtent(page).count > Int(Self.pageSize) / 4 {
      dirtySpareFrames.append(page)
    } else {
      spareFrames.append(page)
    }
  }

  /// Takes every page of `chunk` back for reuse (the chunk frees none of them).
  private func recycleFrames(of chunk: PageChunk) {
    var live = PageChunk.live(chunk.frames)
    // Only up to the highest frame used since the chunk was last emptied.
    for i in 0..<PageChunk.end(chunk.frames) where live > 0 {
      guard let page = chunk.frames[i] else { continue }
      recycle(page)
      chunk.frames[i] = nil
      live -= 1
    }
    PageChunk.empty(chunk.frames)
  }

  // MARK: Access

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

  public func write(_ bytes: [UInt8], at address: UInt64) throws(MemoryError) {
    guard isBacked(address, length: bytes.count) else {
      throw .unbacked(address: address, length: bytes.count)
    }
    bytes.withUnsafeBytes { source in
      var done = 0
      while done < source.count {
        let a = address + UInt64(done)
        let inPage = Int(a & (Self.pageSize - 1))
        let n = min(source.count - done, Int(Self.pageSize) - inPage)
        (materialize(a >> Self.pageShift, writing: inPage, count: n) + inPage).copyMemory(
          from: source.baseAddress! + done, byteCount: n)
        done += n
      }
    }
    if tracksWrittenPages { noteWritten(address, bytes.count) }
    if let observer = writeObserver, let owner = owner(of: address) {
      observer(address, bytes.count, owner)
    }
  }

  /// Fills `address..<address+length` with `byte` (memset; zeroing a page drops its storage).
  public func fill(_ address: UInt64, length: Int, with byte: UInt8 = 0) throws(MemoryError) {
    guard isBacked(address, length: length) else {
      throw .unbacked(address: address, length: length)
    }
    if byte == 0 && address % Self.pageSize == 0 && UInt64(length) % Self.pageSize == 0 {
      guard pageCount > 0 else { return }
      var pfn = address >> Self.pageShift
      let end = (address + UInt64(length)) >> Self.pageShift
      while pfn < end {
        // A chunk with no storage holds only zeros: skip it whole.
        let chunkEnd = min(end, (pfn | PageChunk.mask) + 1)
        if let frames = chunkFrames(pfn >> PageChunk.shift), PageChunk.live(frames) > 0 {
          // dropFrame() for each page, with the chunk at hand, and only up to its highest
          // frame with storage.
          let first = Int(pfn & PageChunk.mask)
          let last = min(Int((chunkEnd - 1) & PageChunk.mask) + 1, PageChunk.end(frames))
          for slot in first..<max(first, last) {
            guard let page = frames[slot] else { continue }
            recycle(page)
            frames[slot] = nil
            PageChunk.addLive(frames, -1)
            pageCount -= 1
          }
        }
        pfn = chunkEnd
      }
      return
    }
    try write([UInt8](repeating: byte, count: length), at: address)
  }

  /// A little-endian 64-bit load (how IOMMUs read table entries and commands).
  public func read64(_ address: UInt64) throws(MemoryError) -> UInt64 {
    let inPage = Int(address & (Self.pageSize - 1))
    // Fast path: an aligned load inside one page. A page that holds data is RAM (pages are
    // only materialised by writes to RAM), so only an empty page needs the region lookup.
    if inPage & 7 == 0 {
      if let page = frame(address >> Self.pageShift) {
        return UInt64(littleEndian: page.load(fromByteOffset: inPage, as: UInt64.self))
      }
      if regionIndex(containing: address) != nil { return 0 }
    }
    let b = try read(address, length: 8)
    return b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
  }

  public func write64(_ value: UInt64, at address: UInt64) throws(MemoryError) {
    let inPage = Int(address & (Self.pageSize - 1))
    // Fastest path: a page that holds data is RAM (as for read64), so with no observer to
    // name the owner, a store into it needs no region lookup.
    if inPage & 7 == 0, writeObserver == nil, let page = frame(address >> Self.pageShift) {
      Self.markDirty(page, inPage, 8)
      page.storeBytes(of: value.littleEndian, toByteOffset: inPage, as: UInt64.self)
      if tracksWrittenPages { noteWritten(address, 8) }
      return
    }
    // Fast path: an aligned store inside one page, without building a byte array.
    if inPage & 7 == 0, let region = regionIndex(containing: address) {
      // A zero stored into a page that was never written changes nothing (it reads as zero):
      // no page is materialised for it. It is still a write, noted and observed as one.
      if value != 0 || frame(address >> Self.pageShift) != nil {
        materialize(address >> Self.pageShift, writing: inPage, count: 8).storeBytes(
          of: value.littleEndian, toByteOffset: inPage, as: UInt64.self)
      }
      if tracksWrittenPages { noteWritten(address, 8) }
      if let observer = writeObserver { observer(address, 8, owners.list[Int(spans[region].owner)]) }
      return
    }
    try write((0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }, at: address)
  }

  public func read32(_ address: UInt64) throws(MemoryError) -> UInt32 {
    let inPage = Int(address & (Self.pageSize - 1))
    // Fast path, as for read64: an aligned load inside one page, without a byte array.
    if inPage & 3 == 0 {
      if let page = frame(address >> Self.pageShift) {
        return UInt32(littleEndian: page.load(fromByteOffset: inPage, as: UInt32.self))
      }
      if regionIndex(containing: address) != nil { return 0 }
    }
    let b = try read(address, length: 4)
    return b.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
  }

  public func write32(_ value: UInt32, at address: UInt64) throws(MemoryError) {
    let inPage = Int(address & (Self.pageSize - 1))
    // Fast path, as for write64: an aligned store inside one page, without a byte array.
    if inPage & 3 == 0, let region = regionIndex(containing: address) {
      // As for write64: a zero into a page never written needs no page.
      if value != 0 || frame(address >> Self.pageShift) != nil {
        materialize(address >> Self.pageShift, writing: inPage, count: 4).storeBytes(
          of: value.littleEndian, toByteOffset: inPage, as: UInt32.self)
      }
      if tracksWrittenPages { noteWritten(address, 4) }
      if let observer = writeObserver { observer(address, 4, owners.list[Int(spans[region].owner)]) }
      return
    }
    try write((0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }, at: address)
  }

  /// Pages that hold data (written and not zeroed since), for reports and tests.
  public var materializedPageCount: Int { pageCount }
}

/// The storage of 512 consecutive pages (2 MiB), each allocated on first write.
final class PageChunk {
  static let shift: UInt64 = 9
  static let mask: UInt64 = 511
  /// The 512 frames, then the number of them that hold storage and the end of the highest
  /// one given storage since the chunk was last emptied (in the same allocation, so that code
  /// holding only the frames, as the memory's hot paths do, can keep them).
  let frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>

  init() {
    frames = .allocate(capacity: Int(Self.mask) + 3)
    frames.initialize(repeating: nil, count: Int(Self.mask) + 3)
  }

  /// How many of the frames hold storage.
  static func live(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int {
    Int(bitPattern: frames[Int(mask) + 1])
  }

  /// Every frame from here on has had no storage since the chunk was last emptied.
  static func end(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int {
    Int(bitPattern: frames[Int(mask) + 2])
  }

  static func addLive(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ delta: Int) {
    frames[Int(mask) + 1] = UnsafeMutableRawPointer(bitPattern: live(frames) + delta)
  }

  /// Notes that frame `slot` was given storage.
  static func noteUsed(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, slot: Int) {
    if slot >= end(frames) { frames[Int(mask) + 2] = UnsafeMutableRawPointer(bitPattern: slot + 1) }
  }

  /// Notes that no frame holds storage any more.
  static func empty(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
    frames[Int(mask) + 1] = nil
    frames[Int(mask) + 2] = nil
  }

  deinit {
    for i in 0...Int(Self.mask) { frames[i]?.deallocate() }
    frames.deallocate()
  }
}
