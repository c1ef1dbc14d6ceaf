import MMIO

/// A buffer handed out by ``DMAAllocator``: the address a device uses and its size.
public struct DMABuffer: Sendable, Hashable, CustomStringConvertible {
  /// `dma_addr_t` (equal to the physical address: the allocator does not sit behind an IOMMU).
  public let address: UInt64
  public let size: UInt64
  public var description: String { "\(hex(address, digits: 9))+\(hex(size))" }
}

/// `dma_alloc_coherent()` for drivers: zeroed, page-aligned (or more strictly aligned)
/// buffers carved from a pool of RAM that belongs to one kernel. Freed buffers are reused,
/// first fit.
public final class DMAAllocator {
  public let memory: PhysicalMemory
  public let pool: MemoryRegion
  // Touched by every allocation, never re-entered: no dynamic exclusivity checks.
  @exclusivity(unchecked) private var free: [(base: UInt64, size: UInt64)]
  @exclusivity(unchecked) public private(set) var allocated: [DMABuffer] = []
  /// The contiguous (CMA) area, when the kernel has one: dma_alloc_contiguous()
  /// (kernel/dma/contiguous.c, Linux 7.2) serves allocations larger than a page from it, and
  /// single pages from the page allocator (this pool). Its placement does not depend on what
  /// a kernel did before, so a kexec'd kernel gets the same CMA addresses for the same requests.
  /// Read by every allocation, set once by whoever builds the pools: unchecked.
  @exclusivity(unchecked) public var contiguous: DMAAllocator?

  /// A pool over `base..<base+size`, which must be RAM; it is given to `owner`.
  public init(memory: PhysicalMemory, base: UInt64, size: UInt64, owner: MemoryOwner) {
    precondition(memory.isBacked(base, length: Int(size)), "DMA pool must be RAM")
    self.memory = memory
    self.pool = MemoryRegion(base: base, size: size, owner: owner)
    self.free = [(base, size)]
    // A kernel's drivers make a few dozen allocations: room for them at once, not step by
    // step. 62 entries (16 bytes each) make a kilobyte with the array's header: the largest
    // block malloc keeps on its fast per-thread lists (64 missed them, and cost 3 times more).
    allocated.reserveCapacity(62)
    memory.setOwner(owner, base: base, size: size)
  }

  /// `dma_alloc_coherent(dev, size, &handle, GFP_KERNEL)`: throws `.outOfMemory` when no
  /// aligned run of `size` bytes is left.
  public func allocate(size: UInt64, alignment: UInt64 = PhysicalMemory.pageSize)
    throws(MemoryError) -> DMABuffer
  {
    let size = (size + PhysicalMemory.pageSize - 1) & ~(PhysicalMemory.pageSize - 1)
    let alignment = max(alignment, PhysicalMemory.pageSize)
    // A failed CMA allocation falls back to the page allocator, as dma_direct_alloc() does.
    // (The size first: most allocations are one page, and need not look for a CMA area.)
    if size > PhysicalMemory.pageSize, let contiguous,
      let buffer = try? contiguous.allocate(size: size, alignment: alignment)
    {
      return buffer
    }
    func aligned(_ base: UInt64) -> UInt64 { (base + alignment - 1) & ~(alignment - 1) }
    // The first hole that fits; found before `free` changes, so that it is changed in place
    // (iterating it while removing would copy it).
    guard let i = free.firstIndex(where: { aligned($0.base) + size <= $0.base + $0.size }) else {
      throw .outOfMemory(requested: size, pool: pool.description)
    }
    let hole = free[i]
    let start = aligned(hole.base)
    // What is left of the hole takes its place, in address order: `free` stays sorted by base.
    let end = start + size
    let holeEnd = hole.base + hole.size
    switch (start > hole.base, end < holeEnd) {
    case (true, true):
      free[i] = (hole.base, start - hole.base)
      free.insert((end, holeEnd - end), at: i + 1)
    case (true, false): free[i] = (hole.base, start - hole.base)
    case (false, true): free[i] = (end, holeEnd - end)
    case (false, false): free.remove(at: i)
    }
    try memory.fill(start, length: Int(size))
    let buffer = DMABuffer(address: start, size: size)
    allocated.append(buffer)
    return buffer
  }

  /// `dma_free_coherent()`.
  public func free(_ buffer: DMABuffer) {
    if let contiguous, contiguous.allocated.contains(buffer) { return contiguous.free(buffer) }
    guard let i = allocated.firstIndex(of: buffer) else { return }
    allocated.remove(at: i)
    free.append((buffer.address, buffer.size))
    free.sort { $0.base < $1.base }
    var merged: [(base: UInt64, size: UInt64)] = []
    for h in free {
      if let last = merged.last, last.base + last.size == h.base {
        merged[merged.count - 1].size += h.size
      } else {
        merged.append(h)
      }
    }
    free = merged
  }
}
