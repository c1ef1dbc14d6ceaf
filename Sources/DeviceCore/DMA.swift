import Kernel
import Memory

extension Device {
  /// `dma_alloc_coherent()`: a zeroed buffer from the kernel's DMA pool. -ENOMEM when the pool
  /// is exhausted or the driver core was given no memory.
  public func dmaAllocCoherent(size: UInt64, alignment: UInt64 = PhysicalMemory.pageSize) throws(Errno) -> DMABuffer {
    guard let allocator = core?.dmaAllocator else { throw .ENOMEM }
    guard let buffer = try? allocator.allocate(size: size, alignment: alignment) else { throw .ENOMEM }
    return buffer
  }

  /// `dma_free_coherent()`.
  public func dmaFreeCoherent(_ buffer: DMABuffer) {
    core?.dmaAllocator?.free(buffer)
  }
}
