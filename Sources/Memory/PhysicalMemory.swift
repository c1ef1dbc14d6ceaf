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
  /// lifetime, so an id stays valid across ``removeAll()``. Numbering calls out to nothing
  /// that could reach it again: no dynamic exclusivity checks.
  @exclusivity(unchecked) var owners = OwnerTable()
  /// No two neighbouring regions have the same owner (true after every ``setOwner``).
  @exclusivity(unchecked) var coalesced = true
  /// Where the last two lookups found their regions (the last first): accesses cluster, so
  /// most lookups start there; two, as a DMA transaction's lookups alternate between its
  /// buffer and the IOMMU's tables.
  @exclusivity(unchecked) var lastRegion = 0
  @exclusivity(unchecked) var otherRegion = 0
  /// Materialised pages, in 2 MiB chunks, with the last chunk used at hand: table walks and
  /// queue writes stay in a few chunks, so most accesses skip the hash lookup.
  @exclusivity(unchecked) private var chunks: [UInt64: PageChunk] = [:]
  /// The frames of each chunk below 8 GiB by number (nil: none there), so that a lookup away
  /// from the chunk at hand takes no hashing (walks and DMA alternate among a few chunks);
  /// chunks above are only in `chunks`. Allocated with the first chunk.
  @exclusivity(unchecked) private var chunkTable: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutableRawPointer?>?>?
  private static let chunkTableCount = 4096
  @exclusivity(unchecked) @usableFromInline private(set) var lastChunkKey = UInt64.max
  /// The frames of the chunk at `lastChunkKey` (nil: none there); the chunk itself is kept
  /// alive by `chunks`, so the hot path holds no reference to count.
  @exclusivity(unchecked) @usableFromInline private(set) var lastFrames: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
  @exclusivity(unchecked) private var pageCount = 0
  /// Page storage no longer in use, kept for the next pages materialised (a machine powered on
  /// again reuses its memory's pages instead of going back to the allocator).
  @exclusivity(unchecked) private var spareFrames: [UnsafeMutableRawPointer] = []
  /// Spare storage with much of it written (a payload, the kexec scribble): given first to
  /// writes of whole pages, which need no zeroing, so that the others get little to zero.
  @exclusivity(unchecked) private var dirtySpareFrames: [UnsafeMutableRawPointer] = []
  /// For each array ``writePage(_:at:)`` was given, the storage that every page written with
  /// it shares until it is written again (copied then): the kexec scribble puts the same 4 KiB
  /// in each page it reuses, and the accelerator's DMA the same 4 KiB payload in each page of
  /// its buffer (copying them cost 1.5 % and 2 % of the time). Never recycled, and marked as
  /// shared in their dirty extent; each source is held, so that the same buffer address means
  /// the same bytes.
  @exclusivity(unchecked) private var sharedFrames: [(source: [UInt8], frame: UnsafeMutableRawPointer)] = []
  /// Arrays beyond these are written as usual (a caller with fresh arrays gains nothing).
  private static let maxSharedFrames = 8
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

  public init() {
    // read64() spells out the chunk and page geometry (inlined code cannot see PageChunk).
    assert(Self.pageShift + PageChunk.shift == 21 && PageChunk.mask == 511)
  }

  deinit {
    // The chunks free their frames but for the shared ones, which they must not see.
    if !sharedFrames.isEmpty { for chunk in chunks.values { recycleFrames(of: chunk) } }
    for frame in spareFrames { frame.deallocate() }
    for frame in dirtySpareFrames { frame.deallocate() }
    chunkTable?.deallocate()
    for shared in sharedFrames { shared.frame.deallocate() }
  }

  /// Forgets every region, page and the observer: the memory of a machine powered off, to be
  /// declared again (the handover matrix reuses one memory and its hardware models).
  public func removeAll() {
    spans.removeAll(keepingCapacity: true)
    lastRegion = 0
    otherRegion = 0
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

  /// Notes page `pfn` as written (the start of a run of writes to it).
  @inline(never)
  private func notePage(_ pfn: UInt64) {
    notedPages.append(pfn)
    lastNotedPage = pfn
  }

  // MARK: Pages

  /// The storage of page `pfn`, or nil while it was never written (it reads as zeros).
  @inline(__always)
  func frame(_ pfn: UInt64) -> UnsafeMutableRawPointer? {
    chunkFrames(pfn >> PageChunk.shift)?[Int(pfn & PageChunk.mask)]
  }

  @inline(__always)
  private func chunkFrames(_ key: UInt64) -> UnsafeMutablePointer<UnsafeMutableRawPointer?>? {
    if key == lastChunkKey { return lastFrames }
    let frames = key < Self.chunkTableCount ? chunkTable?[Int(key)] : chunks[key]?.frames
    lastChunkKey = key
    lastFrames = frames
    return frames
  }

  /// The storage of page `pfn`, materialised on first use, for a write of `count` bytes at
  /// `offset` (noted in the page's dirty extent): zeroed where it may hold old data, unless
  /// the write covers all of it.
  private func materialize(_ pfn: UInt64, writing offset: Int, count: Int) -> UnsafeMutableRawPointer {
    let frames = chunkFramesCreating(pfn >> PageChunk.shift)
    let slot = Int(pfn & PageChunk.mask)
    let whole = count == Int(Self.pageSize)
    if let page = frames[slot] {
      if !Self.isShared(page) {
        Self.markDirty(page, offset, count)
        return page
      }
      // Copy on write: the page gets storage of its own (the shared page's bytes first,
      // unless the write covers them all).
      let copy = dirtySpareFrames.popLast() ?? spareFrames.popLast() ?? Self.allocateFrame()
      if !whole { copy.copyMemory(from: page, byteCount: Int(Self.pageSize)) }
      Self.setDirty(copy, 0, Int(Self.pageSize))
      frames[slot] = copy
      return copy
    }
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

  @inline(__always)
  private func chunkFramesCreating(_ key: UInt64) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
    if let existing = chunkFrames(key) { return existing }
    let c = PageChunk()
    chunks[key] = c
    if key < Self.chunkTableCount {
      if chunkTable == nil {
        let table = UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutableRawPointer?>?>.allocate(
          capacity: Self.chunkTableCount)
        table.initialize(repeating: nil, count: Self.chunkTableCount)
        chunkTable = table
      }
      chunkTable?[Int(key)] = c.frames
    }
    lastChunkKey = key
    lastFrames = c.frames
    return c.frames
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

  /// The dirty extent of a shared frame: no other frame has one this wide.
  private static let sharedMark = UInt32.max

  @inline(__always)
  private static func isShared(_ page: UnsafeMutableRawPointer) -> Bool {
    page.load(fromByteOffset: Int(pageSize), as: UInt32.self) == sharedMark
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

  @inline(__always)
  private func recycle(_ page: UnsafeMutableRawPointer) {
    if Self.isShared(page) { return }
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

  /// Writes `bytes` at `address` as ``write(_:at:)`` does; whole pages (page aligned, one page
  /// of bytes) written with the same array share their storage until one of them is written
  /// again.
  public func writePage(_ bytes: [UInt8], at address: UInt64) throws(MemoryError) {
    guard bytes.count == Int(Self.pageSize), address % Self.pageSize == 0 else {
      return try write(bytes, at: address)
    }
    guard isBacked(address, length: bytes.count) else {
      throw .unbacked(address: address, length: bytes.count)
    }
    guard let sharedPage = sharedFrame(for: bytes) else { return try write(bytes, at: address) }
    let pfn = address >> Self.pageShift
    let frames = chunkFramesCreating(pfn >> PageChunk.shift)
    let slot = Int(pfn & PageChunk.mask)
    if let page = frames[slot] {
      recycle(page)
    } else {
      PageChunk.addLive(frames, 1)
      PageChunk.noteUsed(frames, slot: slot)
      pageCount += 1
    }
    frames[slot] = sharedPage
    if tracksWrittenPages { noteWritten(address, bytes.count) }
    if let observer = writeObserver, let owner = owner(of: address) {
      observer(address, bytes.count, owner)
    }
  }

  /// The frame pages written with `bytes` share (made on first use), or nil when there are
  /// enough shared frames already. Arrays are told apart by their storage's address: a held
  /// source keeps its buffer, so no other bytes can come at that address.
  private func sharedFrame(for bytes: [UInt8]) -> UnsafeMutableRawPointer? {
    let base = bytes.withUnsafeBufferPointer { $0.baseAddress }
    for shared in sharedFrames where shared.source.withUnsafeBufferPointer({ $0.baseAddress }) == base {
      return shared.frame
    }
    guard sharedFrames.count < Self.maxSharedFrames else { return nil }
    let page = Self.allocateFrame()
    bytes.withUnsafeBytes { page.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    page.storeBytes(of: Self.sharedMark, toByteOffset: Int(Self.pageSize), as: UInt32.self)
    sharedFrames.append((bytes, page))
    return page
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

  public func write64(_ value: UInt64, at address: UInt64) throws(MemoryError) {
    // Fastest path: a page that holds data is RAM (as for read64), so with no observer to
    // name the owner, an aligned store into it, in the chunk at hand, needs no region lookup.
    // The rest is out of line, so this path saves few registers.
    if address & 7 == 0, writeObserver == nil, address >> (Self.pageShift + PageChunk.shift) == lastChunkKey,
      let frames = lastFrames, let page = frames[Int((address >> Self.pageShift) & PageChunk.mask)],
      !Self.isShared(page)
    {
      let inPage = Int(address & (Self.pageSize - 1))
      Self.markDirty(page, inPage, 8)
      page.storeBytes(of: value.littleEndian, toByteOffset: inPage, as: UInt64.self)
      // noteWritten() for 8 aligned bytes, which lie in one page.
      if tracksWrittenPages, address >> Self.pageShift != lastNotedPage { notePage(address >> Self.pageShift) }
      return
    }
    try store64(value, at: address)
  }

  @inline(never)
  private func store64(_ value: UInt64, at address: UInt64) throws(MemoryError) { try store(value, at: address) }

  public func write32(_ value: UInt32, at address: UInt64) throws(MemoryError) { try store(value, at: address) }

  /// A little-endian store of `value`. Fast paths: an aligned store into a page that holds
  /// data, then an aligned store inside one page, without building a byte array.
  @inline(__always)
  private func store<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at address: UInt64) throws(MemoryError) {
    let size = MemoryLayout<T>.size
    let inPage = Int(address & (Self.pageSize - 1))
    // A page that holds data is RAM (as for loads), so with no observer to name the owner, a
    // store into it needs no region lookup.
    if inPage & (size - 1) == 0, writeObserver == nil, let page = frame(address >> Self.pageShift),
      !Self.isShared(page)
    {
      Self.markDirty(page, inPage, size)
      page.storeBytes(of: value.littleEndian, toByteOffset: inPage, as: T.self)
      if tracksWrittenPages { noteWritten(address, size) }
      return
    }
    if inPage & (size - 1) == 0, let region = regionIndex(containing: address) {
      // A zero stored into a page that was never written changes nothing (it reads as zero):
      // no page is materialised for it. It is still a write, noted and observed as one.
      if value != 0 || frame(address >> Self.pageShift) != nil {
        materialize(address >> Self.pageShift, writing: inPage, count: size).storeBytes(
          of: value.littleEndian, toByteOffset: inPage, as: T.self)
      }
      if tracksWrittenPages { noteWritten(address, size) }
      if let observer = writeObserver { observer(address, size, owners.list[Int(spans[region].owner)]) }
      return
    }
    try write((0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }, at: address)
  }

  /// Pages that hold data (written and not zeroed since), for reports and tests.
  public var materializedPageCount: Int { pageCount }
}
