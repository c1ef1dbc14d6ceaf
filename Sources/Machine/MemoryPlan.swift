import Memory

/// Where things lie in the machine's RAM, and who owns each part at each moment.
///
/// RAM runs from 1 GiB to 5 GiB (the ARM `virt` board starts RAM at 0x4000_0000). The crash
/// reservation sits at 3.5 GiB. A 32-bit IOVA used as a physical address (bypass) points just
/// below 4 GiB, since the kernel's IOVA allocator hands out IOVAs from the top of the device's
/// DMA mask downwards: into RAM the old kernel (or the kexec'd one) owns. A 64-bit IOVA from
/// the top of a 48-bit space hits no RAM.
public struct MemoryPlan: Sendable, Hashable {
  public var ramBase: UInt64 = 0x4000_0000
  public var ramSize: UInt64 = 0x1_0000_0000
  /// Firmware (EFI runtime, reserved ranges) at the start of RAM.
  public var firmwareSize: UInt64 = 0x20_0000
  /// A kernel's image: text, data, bss.
  public var kernelImageBase: UInt64 = 0x4020_0000
  public var kernelImageSize: UInt64 = 0x200_0000
  /// The pool `dma_alloc_coherent()` carves from: IOMMU tables, queues, device rings. A kexec'd
  /// kernel allocates from the same place, over what the old kernel left there.
  public var dmaPoolBase: UInt64 = 0x4220_0000
  public var dmaPoolSize: UInt64 = 0x800_0000
  /// `crashkernel=256M`: the crash kernel's image and its own DMA pool.
  public var crashBase: UInt64 = 0xE000_0000
  public var crashSize: UInt64 = 0x1000_0000
  public var crashPoolBase: UInt64 = 0xE400_0000
  public var crashPoolSize: UInt64 = 0x400_0000

  public init() {}

  /// Declares the RAM and gives each range to its first owners (the old kernel everywhere but
  /// firmware and the crash reservation).
  func populate(_ memory: PhysicalMemory, oldKernel: String) {
    memory.addRAM(base: ramBase, size: ramSize, owner: .kernel(oldKernel))
    memory.setOwner(.firmware, base: ramBase, size: firmwareSize)
    memory.setOwner(.crashReservation, base: crashBase, size: crashSize)
  }

  /// The ranges a kernel started by kexec takes over: everything the old kernel had.
  func oldKernelRanges() -> [(base: UInt64, size: UInt64)] {
    let start = ramBase + firmwareSize
    return [
      (start, crashBase - start),
      (crashBase + crashSize, ramBase + ramSize - crashBase - crashSize),
    ]
  }
}
