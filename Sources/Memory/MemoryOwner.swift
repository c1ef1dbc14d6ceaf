import MMIO

/// Who a range of physical memory belongs to. Handover accounting counts DMA writes by owner.
public enum MemoryOwner: Sendable, Hashable, CustomStringConvertible {
  /// Firmware and reserved ranges no kernel uses.
  case firmware
  /// A kernel's own memory (text, data, page tables, the IOMMU's tables and queues).
  case kernel(String)
  /// The crashkernel= reservation the kdump kernel runs in.
  case crashReservation
  /// Buffers a device driver gave its device for DMA (ring buffers, bounce buffers).
  case deviceBuffer(String)
  /// Memory nobody has claimed.
  case free

  public var description: String {
    switch self {
    case .firmware: "firmware"
    case .kernel(let k): "kernel(\(k))"
    case .crashReservation: "crash reservation"
    case .deviceBuffer(let d): "device buffer(\(d))"
    case .free: "free"
    }
  }
}

/// An owner as one ``PhysicalMemory`` numbers it (``PhysicalMemory/ownerID(_:)``): what code
/// that runs for every access compares, instead of the owners' strings.
public struct MemoryOwnerID: Sendable, Hashable {
  let index: Int32
}

/// A physical address range with its owner.
public struct MemoryRegion: Sendable, Hashable, CustomStringConvertible {
  public var base: UInt64
  public var size: UInt64
  public var owner: MemoryOwner
  public init(base: UInt64, size: UInt64, owner: MemoryOwner) {
    self.base = base
    self.size = size
    self.owner = owner
  }
  public var end: UInt64 { base + size }
  public func contains(_ address: UInt64) -> Bool { address >= base && address < end }
  public var description: String {
    "[\(hex(base, digits: 9))-\(hex(end - 1, digits: 9))] \(owner)"
  }
}

/// Why a physical memory access failed.
public enum MemoryError: Error, Sendable, Hashable, CustomStringConvertible {
  /// No RAM backs this address (a DMA to an IOVA used as a physical address, often).
  case unbacked(address: UInt64, length: Int)
  /// The allocator has no room left in its pool.
  case outOfMemory(requested: UInt64, pool: String)

  public var description: String {
    switch self {
    case .unbacked(let a, let n): "access of \(n) bytes at \(hex(a)) hits no RAM"
    case .outOfMemory(let n, let pool): "no \(n) bytes left in \(pool)"
    }
  }
}
