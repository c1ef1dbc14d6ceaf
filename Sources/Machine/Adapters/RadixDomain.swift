import Kernel
import Memory

/// The layout of a radix page table: how many levels, 9 index bits each over 4 KiB pages, and
/// how an entry is encoded. Adapters describe their hardware's format (RISC-V Sv39, ARM LPAE,
/// VT-d second level) with one of these.
public struct RadixFormat: Sendable {
  public var levels: Int
  /// A table entry pointing at the next level's page.
  public var table: @Sendable (_ physical: UInt64) -> UInt64
  /// A leaf entry mapping one 4 KiB page, readable and writable.
  public var leaf: @Sendable (_ physical: UInt64) -> UInt64
  /// Whether an entry is present, and the next table it points at.
  public var isValid: @Sendable (_ entry: UInt64) -> Bool
  public var next: @Sendable (_ entry: UInt64) -> UInt64

  public init(
    levels: Int, table: @escaping @Sendable (UInt64) -> UInt64,
    leaf: @escaping @Sendable (UInt64) -> UInt64, isValid: @escaping @Sendable (UInt64) -> Bool,
    next: @escaping @Sendable (UInt64) -> UInt64
  ) {
    self.levels = levels
    self.table = table
    self.leaf = leaf
    self.isValid = isValid
    self.next = next
  }
}

/// A DMA (paging) domain: a page table in the kernel's memory and an IOVA allocator that hands
/// out addresses from the top of the device's DMA mask (clamped to the domain's aperture)
/// downwards, as `iommu_dma_alloc_iova()` does. What the IOMMU layer and io-pgtable do, done
/// here because the driver models stop at attach.
public final class RadixDomain: DMAMapping {
  public let memory: PhysicalMemory
  public let allocator: DMAAllocator
  public let format: RadixFormat
  /// The root table's physical address.
  public let root: UInt64
  /// One past the highest IOVA the domain can map.
  public let aperture: UInt64
  // Read and advanced on every map; the allocator calls nothing back and the hook is called
  // after it is read: no dynamic exclusivity checks.
  /// Runs after each map (an IOTLB invalidation where the hardware caches).
  @exclusivity(unchecked) public var afterMap: () throws(Errno) -> Void = {}
  @exclusivity(unchecked) private var iovas: IOVAAllocator

  /// A domain over the table at `root`, or over a fresh zeroed root page.
  public init(
    memory: PhysicalMemory, allocator: DMAAllocator, format: RadixFormat, aperture: UInt64,
    root: UInt64? = nil
  ) throws(Errno) {
    self.memory = memory
    self.allocator = allocator
    self.format = format
    self.aperture = aperture
    iovas = IOVAAllocator(aperture: aperture)
    if let root {
      self.root = root
    } else {
      do { self.root = try allocator.allocate(size: PhysicalMemory.pageSize).address } catch { throw .ENOMEM }
    }
  }

  /// `dma_map_single()`: an IOVA range below the mask, every page mapped.
  public func map(physical: UInt64, size: UInt64, dmaMask: UInt64) throws(Errno) -> UInt64 {
    let pages = (size + PhysicalMemory.pageSize - 1) & ~(PhysicalMemory.pageSize - 1)
    let iova = try iovas.allocate(size: pages, dmaMask: dmaMask)
    var offset: UInt64 = 0
    while offset < pages {
      // One walk per leaf table: the pages that follow in the same table are written without
      // reading the upper levels again (the tables they would walk are the ones just walked).
      let table = try leafTable(for: iova + offset)
      repeat {
        let address = iova + offset
        do {
          try memory.write64(format.leaf(physical + offset), at: table + ((address >> 12) & 0x1ff) * 8)
        } catch { throw .EFAULT }
        offset += PhysicalMemory.pageSize
      } while offset < pages && (iova + offset) >> 12 & 0x1ff != 0
    }
    try afterMap()
    return iova
  }

  /// The last-level table that maps `iova`, with any missing table on the way allocated.
  private func leafTable(for iova: UInt64) throws(Errno) -> UInt64 {
    var table = root
    for level in stride(from: format.levels - 1, to: 0, by: -1) {
      let entry = table + ((iova >> UInt64(12 + 9 * level)) & 0x1ff) * 8
      let value = (try? memory.read64(entry)) ?? 0
      if format.isValid(value) {
        table = format.next(value)
        continue
      }
      let page: UInt64
      do { page = try allocator.allocate(size: PhysicalMemory.pageSize).address } catch { throw .ENOMEM }
      do { try memory.write64(format.table(page), at: entry) } catch { throw .EFAULT }
      table = page
    }
    return table
  }
}

/// IOVAs from the top of the device's DMA mask, clamped to the domain's aperture, downwards.
public struct IOVAAllocator: Sendable {
  public let aperture: UInt64
  /// The next top per limit. A domain sees one or two limits (its devices' DMA masks): those
  /// are kept inline, in two slots (a list, allocated for every domain of every kernel, cost
  /// more), and any more in a list.
  private var first: (limit: UInt64, top: UInt64)?
  private var second: (limit: UInt64, top: UInt64)?
  private var more: [(limit: UInt64, top: UInt64)] = []

  public init(aperture: UInt64) { self.aperture = aperture }

  /// Mirrors iommu_dma_alloc_iova(), drivers/iommu/dma-iommu.c (Linux 7.2), without the
  /// rcache: a page-aligned range of `size` bytes below the mask's limit (`alloc_iova_fast()`
  /// allocates top-down).
  public mutating func allocate(size: UInt64, dmaMask: UInt64) throws(Errno) -> UInt64 {
    let limit = min(dmaMask == ~0 ? aperture : dmaMask &+ 1, aperture)
    let pages = (size + PhysicalMemory.pageSize - 1) & ~(PhysicalMemory.pageSize - 1)
    if first?.limit == limit { return try Self.take(pages, below: &first!.top) }
    if second?.limit == limit { return try Self.take(pages, below: &second!.top) }
    if let i = more.firstIndex(where: { $0.limit == limit }) { return try Self.take(pages, below: &more[i].top) }
    // A limit not seen before starts at the limit itself.
    var top = limit
    let iova = try Self.take(pages, below: &top)
    if first == nil {
      first = (limit, top)
    } else if second == nil {
      second = (limit, top)
    } else {
      more.append((limit, top))
    }
    return iova
  }

  /// `pages` bytes from just below `top`, which moves down over them.
  private static func take(_ pages: UInt64, below top: inout UInt64) throws(Errno) -> UInt64 {
    guard top >= pages else { throw .ENOSPC }
    top -= pages
    return top
  }
}

/// A domain whose page table the driver model builds: the adapter hands its map function over.
public final class DriverDomain: DMAMapping {
  // Advanced on every map; the allocator calls nothing back: no dynamic exclusivity checks.
  @exclusivity(unchecked) private var iovas: IOVAAllocator
  private let mapPages: (_ iova: UInt64, _ physical: UInt64, _ size: UInt64) throws(Errno) -> Void

  public init(
    aperture: UInt64,
    mapPages: @escaping (_ iova: UInt64, _ physical: UInt64, _ size: UInt64) throws(Errno) -> Void
  ) {
    iovas = IOVAAllocator(aperture: aperture)
    self.mapPages = mapPages
  }

  public func map(physical: UInt64, size: UInt64, dmaMask: UInt64) throws(Errno) -> UInt64 {
    let pages = (size + PhysicalMemory.pageSize - 1) & ~(PhysicalMemory.pageSize - 1)
    let iova = try iovas.allocate(size: pages, dmaMask: dmaMask)
    try mapPages(iova, physical, pages)
    return iova
  }
}
