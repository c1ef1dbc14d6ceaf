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
