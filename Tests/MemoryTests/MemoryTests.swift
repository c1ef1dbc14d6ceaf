import MMIO
import Memory
import Testing

@Suite("Simulated physical memory")
struct PhysicalMemoryTests {
  func makeMemory() -> PhysicalMemory {
    let m = PhysicalMemory()
    m.addRAM(base: 0x8000_0000, size: 0x100_0000, owner: .kernel("old"))
    return m
  }

  @Test("unwritten RAM reads as zeros; writes cross page boundaries")
  func readWrite() throws {
    let m = makeMemory()
    #expect(try m.read64(0x8000_1000) == 0)
    try m.write64(0x1122_3344_5566_7788, at: 0x8000_0ffc)
    #expect(try m.read32(0x8000_0ffc) == 0x5566_7788)
    #expect(try m.read32(0x8000_1000) == 0x1122_3344)
    #expect(m.materializedPageCount == 2)
  }

  @Test("an access outside RAM is reported, and nothing changes")
  func unbacked() throws {
    let m = makeMemory()
    #expect(throws: MemoryError.unbacked(address: 0x1000, length: 8)) {
      try m.write64(1, at: 0x1000)
    }
    #expect(throws: MemoryError.unbacked(address: 0x80ff_fffc, length: 8)) {
      try m.read64(0x80ff_fffc)
    }
    #expect(m.materializedPageCount == 0)
  }

  @Test("owners split and merge at page granularity")
  func owners() {
    let m = makeMemory()
    m.setOwner(.crashReservation, base: 0x8080_0000, size: 0x40_0000)
    #expect(m.owner(of: 0x8080_0000) == .crashReservation)
    #expect(m.owner(of: 0x807f_ffff) == .kernel("old"))
    #expect(m.owner(of: 0x80c0_0000) == .kernel("old"))
    #expect(m.regions.count == 3)
    m.setOwner(.kernel("old"), base: 0x8080_0000, size: 0x40_0000)
    #expect(m.regions.count == 1)
    #expect(m.owner(of: 0x9000_0000) == nil)
  }

  @Test("writes are observed with the owner of the target")
  func observer() throws {
    let m = makeMemory()
    var seen: [(UInt64, Int, MemoryOwner)] = []
    m.writeObserver = { seen.append(($0, $1, $2)) }
    try m.write32(7, at: 0x8000_0010)
    #expect(
      seen.count == 1 && seen[0].0 == 0x8000_0010 && seen[0].1 == 4 && seen[0].2 == .kernel("old"))
  }

  @Test("a zero stored into a page never written needs no page, yet is a write noted and observed")
  func zeroStore() throws {
    let m = makeMemory()
    var seen = 0
    m.writeObserver = { _, _, _ in seen += 1 }
    m.tracksWrittenPages = true
    try m.write64(0, at: 0x8000_3000)
    try m.write32(0, at: 0x8000_4004)
    #expect(m.materializedPageCount == 0 && seen == 2)
    #expect(m.writtenPages == [0x80003, 0x80004])
    #expect(try m.read64(0x8000_3000) == 0)
  }

  @Test("a page reused after being zeroed or forgotten reads as zeros wherever it was written before")
  func recycledPagesReadZero() throws {
    let m = makeMemory()
    try m.write([UInt8](repeating: 0xa5, count: 0x1000), at: 0x8000_0000)
    try m.write64(~0, at: 0x8000_1ff8)
    try m.write64(~0, at: 0x8000_2008)
    try m.fill(0x8000_0000, length: 0x3000)
    try m.write64(1, at: 0x8000_5000)
    try m.write32(2, at: 0x8000_6800)
    try m.write([3], at: 0x8000_7fff)
    #expect(try m.read(0x8000_5000, length: 0x3000).filter { $0 != 0 } == [1, 2, 3])
    m.removeAll()
    m.addRAM(base: 0x8000_0000, size: 0x10_0000)
    try m.write64(4, at: 0x8000_0100)
    try m.write64(5, at: 0x8000_1100)
    try m.write64(6, at: 0x8000_2100)
    #expect(try m.read(0x8000_0000, length: 0x3000).filter { $0 != 0 } == [4, 5, 6])
  }

  @Test("pages written from one array share it until written again; each reads as written")
  func sharedPages() throws {
    let m = makeMemory()
    let pattern = (0..<0x1000).map { UInt8(truncatingIfNeeded: $0 | 1) }
    m.tracksWrittenPages = true
    try m.writePage(pattern, at: 0x8000_1000)
    try m.writePage(pattern, at: 0x8000_2000)
    try m.writePage(Array(pattern), at: 0x8000_3000)
    #expect(m.materializedPageCount == 3 && m.writtenPages == [0x80001, 0x80002, 0x80003])
    try m.write64(0, at: 0x8000_2008)
    #expect(try m.read(0x8000_1000, length: 0x1000) == pattern)
    #expect(try m.read64(0x8000_2008) == 0 && m.read64(0x8000_2000) == m.read64(0x8000_1000))
    try m.fill(0x8000_1000, length: 0x1000)
    #expect(try m.isZero(0x8000_1000, length: 0x1000) && m.read(0x8000_3000, length: 0x1000) == pattern)
    #expect(throws: MemoryError.unbacked(address: 0x1000, length: 0x1000)) {
      try m.writePage(pattern, at: 0x1000)
    }
  }

  @Test("pages written from different arrays each share their own; storage given back is never theirs")
  func sharedPagesOfTwoArrays() throws {
    let m = makeMemory()
    let a = (0..<0x1000).map { UInt8(truncatingIfNeeded: $0 | 1) }
    let b = (0..<0x1000).map { UInt8(truncatingIfNeeded: $0 ^ 0x5a) }
    try m.writePage(a, at: 0x8000_1000)
    try m.writePage(b, at: 0x8000_2000)
    try m.writePage(a, at: 0x8000_3000)
    try m.write([0, 0], at: 0x8000_3010)
    var written = a
    written[0x10] = 0
    written[0x11] = 0
    #expect(try m.read(0x8000_1000, length: 0x1000) == a && m.read(0x8000_2000, length: 0x1000) == b)
    #expect(try m.read(0x8000_3000, length: 0x1000) == written)
    try m.writePage(b, at: 0x8000_1000)
    #expect(try m.read(0x8000_1000, length: 0x1000) == b && m.materializedPageCount == 3)
    // Powered on again: a page materialised now reads as zeros but for what is written to it.
    m.removeAll()
    m.addRAM(base: 0x8000_0000, size: 0x100_0000)
    for page in UInt64(0)..<4 { try m.write64(7, at: 0x8000_0008 + page << 12) }
    for page in UInt64(0)..<4 {
      #expect(try m.read(0x8000_0000 + page << 12, length: 0x1000).filter { $0 != 0 } == [7])
    }
  }
}

@Suite("dma_alloc_coherent")
struct DMAAllocatorTests {
  @Test("buffers are zeroed, aligned, owned, reused after free, and the pool can run out")
  func allocate() throws {
    let m = PhysicalMemory()
    m.addRAM(base: 0x8000_0000, size: 0x10_0000)
    let pool = DMAAllocator(memory: m, base: 0x8000_0000, size: 0x4000, owner: .kernel("old"))
    try m.write64(~0, at: 0x8000_2000)
    let a = try pool.allocate(size: 0x1000)
    let b = try pool.allocate(size: 0x2000, alignment: 0x2000)
    #expect(a.address == 0x8000_0000 && b.address == 0x8000_2000)
    #expect(try m.read64(0x8000_2000) == 0)
    #expect(m.owner(of: b.address) == .kernel("old"))
    #expect(throws: MemoryError.self) { try pool.allocate(size: 0x2000) }
    pool.free(b)
    #expect(try pool.allocate(size: 0x3000).address == 0x8000_1000)
  }

  @Test("with a CMA area, multi-page buffers come from it and single pages from the pool; a full area falls back")
  func contiguousArea() throws {
    let m = PhysicalMemory()
    m.addRAM(base: 0x8000_0000, size: 0x10_0000)
    let pool = DMAAllocator(memory: m, base: 0x8000_0000, size: 0x8000, owner: .kernel("k"))
    pool.contiguous = DMAAllocator(memory: m, base: 0x800f_0000, size: 0x4000, owner: .kernel("k"))
    let page = try pool.allocate(size: 0x800)
    let queue = try pool.allocate(size: 0x4000, alignment: 0x4000)
    let fallback = try pool.allocate(size: 0x2000)
    #expect(page.address == 0x8000_0000 && queue.address == 0x800f_0000 && fallback.address == 0x8000_1000)
    pool.free(queue)
    #expect(pool.contiguous?.allocated.isEmpty == true)
    #expect(try pool.allocate(size: 0x4000).address == 0x800f_0000)
  }
}
