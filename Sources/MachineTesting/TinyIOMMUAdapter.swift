import DeviceCore
import Kernel
import MMIO
import Machine
import Memory
import SimulatedHardware

/// The tiny IOMMU on the handover machine: the reference for writing a real adapter.
public final class TinyIOMMUAdapter: HandoverIOMMU {
  public let name = "tiny"
  public let variants = ["kernel", "abort", "leave"]
  public let clientBus: BusType
  public let controlRegisters: Set<Int> = [TinyIOMMU.ctrl, TinyIOMMU.root]

  public init(clientBus: BusType = .platform) { self.clientBus = clientBus }

  public var kernelList: KernelListSupport? {
    KernelListSupport(shutdownVariant: "leave", bootVariant: "adopt") { hardware, memory, allocator throws(Errno) in
      guard let tiny = hardware as? TinyIOMMU else { throw .ENODEV }
      let root = try allocator.allocateZeroed(size: UInt64(TinyIOMMU.streams) * TinyIOMMU.entrySize)
      // V=1, MODE=abort for every stream: nothing the old kernel left running gets through.
      for sid in 0..<UInt64(TinyIOMMU.streams) {
        try? memory.write64(1, at: root + sid * TinyIOMMU.entrySize)
      }
      tiny.registers.poke(root, .qword, at: TinyIOMMU.root)
    }
  }

  public func makeHardware(memory: PhysicalMemory) -> any IOMMUHardwareModel {
    TinyIOMMU(memory: memory)
  }

  public func install(
    _ hardware: any IOMMUHardwareModel, variant: String, in boot: KernelBoot
  ) throws(HandoverError) -> any IOMMUBinding {
    guard let tiny = hardware as? TinyIOMMU else { throw HandoverError("not a tiny IOMMU") }
    guard let v = TinyIOMMUDriver.Variant(rawValue: variant) else {
      throw HandoverError("tiny IOMMU has no variant '\(variant)'")
    }
    let device = Device(
      name: "10000000.iommu", bus: .platform,
      identity: .platform(compatible: ["iommu-model,tiny-iommu"], acpiHID: nil),
      resources: [DeviceResource(name: "regs", base: 0x1000_0000, io: boot.tap(tiny.registers))])
    boot.registerDevice(device)
    boot.registerDriver(TinyIOMMUDriver(variant: v))
    return TinyBinding(device: device, memory: boot.memory, allocator: boot.allocator)
  }

  public func recordedFaults(_ hardware: any IOMMUHardwareModel) -> Int {
    (hardware as? TinyIOMMU)?.faultCount ?? 0
  }
}

/// Attaches clients to a translate context of their own: one page of PTEs per device.
final class TinyBinding: IOMMUBinding {
  let device: Device
  let memory: PhysicalMemory
  let allocator: DMAAllocator

  init(device: Device, memory: PhysicalMemory, allocator: DMAAllocator) {
    self.device = device
    self.memory = memory
    self.allocator = allocator
  }

  func attach(_ client: Device, streamID: UInt32) throws(Errno) -> any DMAMapping {
    guard let state = device.driverData as? TinyIOMMUDriver.State else { throw .ENODEV }
    guard streamID < UInt32(TinyIOMMU.streams) else { throw .EINVAL }
    let table = try allocator.allocateZeroed(size: PhysicalMemory.pageSize)
    return TinyDomain(
      memory: memory, entry: state.rootTable + UInt64(streamID) * TinyIOMMU.entrySize, table: table)
  }
}

/// A translate context: the window is placed below the top of the first device's DMA mask
/// (below 4 GiB, or at the top of a 48-bit space), IOVAs handed out top down, as the kernel's
/// IOVA allocator does.
final class TinyDomain: DMAMapping {
  let memory: PhysicalMemory
  let entry: UInt64
  let table: UInt64
  var window: UInt64?
  var next: UInt64 = 0

  init(memory: PhysicalMemory, entry: UInt64, table: UInt64) {
    self.memory = memory
    self.entry = entry
    self.table = table
  }

  func map(physical: UInt64, size: UInt64, dmaMask: UInt64) throws(Errno) -> UInt64 {
    if window == nil {
      let top = min(dmaMask, 0xFFFF_FFFF_FFFF) &+ 1
      let base = top - TinyIOMMU.windowSize
      window = base
      next = top
      do {
        try memory.write64(base, at: entry + 8)
        try memory.write64(table | 2 << 1 | 1, at: entry)
      } catch { throw .EFAULT }
    }
    guard let base = window, next - base >= size else { throw .ENOSPC }
    next -= size
    let iova = next
    for page in stride(from: UInt64(0), to: size, by: Int(PhysicalMemory.pageSize)) {
      let index = (iova + page - base) >> 12
      do { try memory.write64((physical + page) | 1, at: table + index * 8) } catch { throw .EFAULT }
    }
    return iova
  }
}

extension DMAAllocator {
  /// A zeroed buffer's address, -ENOMEM when the pool is full.
  func allocateZeroed(size: UInt64) throws(Errno) -> UInt64 {
    do { return try allocate(size: size).address } catch { throw .ENOMEM }
  }
}
