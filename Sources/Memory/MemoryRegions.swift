/// One region of RAM as ``PhysicalMemory`` keeps it: plain integers (the owner by its number
/// in ``PhysicalMemory/owners``), so the region list is copied and searched without reference
/// counting.
struct RegionSpan {
  var base: UInt64
  var end: UInt64
  var owner: Int32
}

/// The owners a memory has numbered, by number. A scan finds an owner's number: there are a
/// dozen or so, and comparing them costs less than hashing their strings.
struct OwnerTable {
  private(set) var list: [MemoryOwner] = []

  mutating func number(_ owner: MemoryOwner) -> Int32 {
    if let i = list.firstIndex(of: owner) { return Int32(i) }
    list.append(owner)
    return Int32(list.count - 1)
  }
}

extension PhysicalMemory {
  /// Regions of RAM, sorted by base, never overlapping.
  public var regions: [MemoryRegion] {
    spans.map { MemoryRegion(base: $0.base, size: $0.end - $0.base, owner: owners.list[Int($0.owner)]) }
  }

  /// The number this memory gives `owner` (the same for equal owners, for the memory's
  /// lifetime): what accounting that runs per access compares instead of owners' strings.
  public func ownerID(_ owner: MemoryOwner) -> MemoryOwnerID {
    MemoryOwnerID(index: owners.number(owner))
  }

  /// The owner numbered `id` by ``ownerID(_:)``.
  public func owner(_ id: MemoryOwnerID) -> MemoryOwner { owners.list[Int(id.index)] }

  /// Declares RAM at `base..<base+size`, owned by `owner`.
  public func addRAM(base: UInt64, size: UInt64, owner: MemoryOwner = .free) {
    precondition(base % Self.pageSize == 0 && size % Self.pageSize == 0, "RAM must be page aligned")
    precondition(
      !spans.contains { $0.base < base + size && base < $0.end }, "RAM regions overlap")
    let wasCoalesced = coalesced
    spans.append(RegionSpan(base: base, end: base + size, owner: ownerID(owner).index))
    spans.sort { $0.base < $1.base }
    lastRegion = 0
    otherRegion = 0
    // Still coalesced when the new region has no neighbour of its owner right next to it
    // (the machine's one RAM region): the next setOwner() can then take its fast path.
    coalesced =
      wasCoalesced
      && !zip(spans, spans.dropFirst()).contains { $0.end == $1.base && $0.owner == $1.owner }
  }

  /// Gives `base..<base+size` (inside declared RAM) to `owner`, splitting regions as needed.
  public func setOwner(_ owner: MemoryOwner, base: UInt64, size: UInt64) {
    setOwner(ownerID(owner), base: base, size: size)
  }

  /// ``setOwner(_:base:size:)`` with an owner already numbered.
  public func setOwner(_ id: MemoryOwnerID, base: UInt64, size: UInt64) {
    let owner = id.index
    let end = base + size
    // Fast path: a range inside one region of a coalesced list only changes that region and
    // its neighbours (what the whole pass below would give), in a few pieces on the stack.
    if coalesced, size > 0, let i = regionIndex(containing: base), spans[i].end >= end {
      let r = spans[i]
      // Already the owner: splitting and merging again would give the same list.
      if r.owner == owner { return }
      let lo = max(0, i - 1)
      let hi = min(spans.count - 1, i + 1)
      withUnsafeTemporaryAllocation(of: RegionSpan.self, capacity: 5) { pieces in
        var n = 0
        func put(_ s: RegionSpan) {
          if n > 0, pieces[n - 1].end == s.base, pieces[n - 1].owner == s.owner {
            pieces[n - 1].end = s.end
          } else {
            pieces.initializeElement(at: n, to: s)
            n += 1
          }
        }
        if i > 0 { put(spans[i - 1]) }
        if r.base < base { put(RegionSpan(base: r.base, end: base, owner: r.owner)) }
        put(RegionSpan(base: base, end: end, owner: owner))
        // The range's region is where the next lookups go (the buffer just given is filled,
        // mapped, written); the other hint is checked before use, like every hint.
        lastRegion = lo + n - 1
        if r.end > end { put(RegionSpan(base: end, end: r.end, owner: r.owner)) }
        if i + 1 < spans.count { put(spans[i + 1]) }
        spans.replaceSubrange(lo...hi, with: UnsafeBufferPointer(rebasing: pieces[0..<n]))
      }
      return
    }
    defer {
      lastRegion = 0
      otherRegion = 0
    }
    var result: [RegionSpan] = []
    result.reserveCapacity(spans.count + 2)
    for r in spans {
      guard r.base < end && base < r.end else {
        result.append(r)
        continue
      }
      if r.base < base { result.append(RegionSpan(base: r.base, end: base, owner: r.owner)) }
      result.append(RegionSpan(base: max(r.base, base), end: min(r.end, end), owner: owner))
      if r.end > end { result.append(RegionSpan(base: end, end: r.end, owner: r.owner)) }
    }
    var merged: [RegionSpan] = []
    // Room for the splits that follow (every buffer a driver gives a device adds up to two).
    merged.reserveCapacity(max(32, result.count + 2))
    for r in result {
      if let last = merged.last, last.end == r.base, last.owner == r.owner {
        merged[merged.count - 1].end = r.end
      } else {
        merged.append(r)
      }
    }
    spans = merged
    coalesced = true
  }

  /// The region holding `address`, or nil where no RAM is.
  public func region(containing address: UInt64) -> MemoryRegion? {
    guard let i = regionIndex(containing: address) else { return nil }
    let s = spans[i]
    return MemoryRegion(base: s.base, size: s.end - s.base, owner: owners.list[Int(s.owner)])
  }

  func regionIndex(containing address: UInt64) -> Int? {
    let hint = lastRegion
    let count = spans.count
    if hint < count, spans[hint].base <= address, address < spans[hint].end { return hint }
    let other = otherRegion
    if other < count, spans[other].base <= address, address < spans[other].end {
      otherRegion = hint
      lastRegion = other
      return other
    }
    var lo = 0
    var hi = count
    while lo < hi {
      let mid = (lo &+ hi) &>> 1
      if spans[mid].end <= address { lo = mid &+ 1 } else { hi = mid }
    }
    guard lo < count && spans[lo].base <= address && address < spans[lo].end else { return nil }
    otherRegion = hint
    lastRegion = lo
    return lo
  }

  /// The owner of `address`, or nil where no RAM is.
  public func owner(of address: UInt64) -> MemoryOwner? {
    guard let i = regionIndex(containing: address) else { return nil }
    return owners.list[Int(spans[i].owner)]
  }

  /// The number of the owner of `address` (see ``ownerID(_:)``), or nil where no RAM is.
  public func ownerID(of address: UInt64) -> MemoryOwnerID? {
    guard let i = regionIndex(containing: address) else { return nil }
    return MemoryOwnerID(index: spans[i].owner)
  }

  /// The number of the owner of `address` when every byte of `address..<address+length` is
  /// RAM (``isBacked(_:length:)``), else nil: one lookup for a DMA transaction's accounting.
  public func ownerID(ofBacked address: UInt64, length: Int) -> MemoryOwnerID? {
    var hint = lastRegion
    return ownerID(ofBacked: address, length: length, hint: &hint)
  }

  /// ``ownerID(ofBacked:length:)`` starting at region number `hint` (any number: it is
  /// checked first), which is left holding the region found: a caller whose accesses keep to
  /// a few regions of its own (a DMA engine's buffers) keeps its own hint, which lookups of
  /// other code in between do not displace.
  public func ownerID(ofBacked address: UInt64, length: Int, hint: inout Int) -> MemoryOwnerID? {
    let first: Int
    if hint >= 0, hint < spans.count, spans[hint].base <= address, address < spans[hint].end {
      first = hint
      // The accesses that follow (the transaction's write) start there too.
      if lastRegion != hint {
        otherRegion = lastRegion
        lastRegion = hint
      }
    } else {
      guard let found = regionIndex(containing: address) else { return nil }
      first = found
      hint = found
    }
    let end = address + UInt64(length)
    var a = spans[first].end
    while a < end {
      guard let i = regionIndex(containing: a) else { return nil }
      a = spans[i].end
    }
    return MemoryOwnerID(index: spans[first].owner)
  }

  /// Whether every byte of `address..<address+length` is RAM.
  public func isBacked(_ address: UInt64, length: Int) -> Bool {
    var a = address
    let end = address + UInt64(length)
    while a < end {
      guard let i = regionIndex(containing: a) else { return false }
      a = spans[i].end
    }
    return true
  }
}
