import Kernel
import MMIO

/// `struct device_driver` with its bus-specific callbacks folded in.
///
/// A driver is one object for all the devices it binds (as in the kernel); per-device state
/// goes in ``Device/driverData``.
public protocol DeviceDriver: AnyObject {
  /// The driver's name (`riscv-iommu`, `arm-smmu-v3`): the `dev_printk` prefix.
  var name: String { get }
  var bus: BusType { get }
  /// `id_table` / `of_match_table` / `acpi_match_table`, in order.
  var matchTable: [DeviceMatch] { get }
  /// `->probe()`: throwing is returning a negative errno; -EPROBE_DEFER asks for a retry.
  func probe(_ device: Device, match: DeviceMatch) throws(Errno)
  /// `->remove()`.
  func remove(_ device: Device)
  /// Whether the driver sets `->shutdown` at all. Devices whose driver has none keep running
  /// (and keep doing DMA) through `device_shutdown()`.
  var hasShutdown: Bool { get }
  /// `->shutdown()`.
  func shutdown(_ device: Device)
  /// The first entry of ``matchTable`` that matches `device` (the bus's `->match()`).
  // A requirement with an inlinable default, so each driver gets its own copy that reads its
  // table and bus directly: the driver core matches every driver against every device.
  func match(_ device: Device) -> DeviceMatch?
}

extension DeviceDriver {
  public func remove(_ device: Device) {}
  public var hasShutdown: Bool { false }
  public func shutdown(_ device: Device) {}

  /// The first table entry that matches `device`.
  @inlinable
  public func match(_ device: Device) -> DeviceMatch? {
    guard device.bus == bus else { return nil }
    return matchTable.first { $0.matches(device) }
  }
}

/// A link from a supplier to a consumer (`struct device_link`).
public struct DeviceLink: Hashable, CustomStringConvertible {
  public let supplier: Device
  public let consumer: Device
  public static func == (a: DeviceLink, b: DeviceLink) -> Bool {
    a.supplier === b.supplier && a.consumer === b.consumer
  }
  public func hash(into h: inout Hasher) {
    h.combine(ObjectIdentifier(supplier))
    h.combine(ObjectIdentifier(consumer))
  }
  public var description: String { "\(supplier.name) -> \(consumer.name)" }
}

/// Something the driver core saw that would be a bug in a real kernel.
public enum Violation: Sendable, Hashable, CustomStringConvertible {
  /// A driver touched a device's registers after the device was shut down.
  case mmioAfterShutdown(device: String, offset: Int)
  /// A device issued DMA after its own shutdown.
  case dmaAfterShutdown(device: String, bytes: Int)
  /// An IOMMU was shut down while a device behind it had not been shut down and was still
  /// doing DMA: the device's traffic now meets whatever the IOMMU's shutdown left behind.
  case iommuShutdownBeforeConsumer(iommu: String, consumer: String)

  public var description: String {
    switch self {
    case .mmioAfterShutdown(let d, let o): "MMIO at \(hex(o, digits: 4)) of \(d) after its shutdown"
    case .dmaAfterShutdown(let d, let n): "\(d) issued DMA (\(n) bytes) after its shutdown"
    case .iommuShutdownBeforeConsumer(let i, let c):
      "IOMMU \(i) shut down while \(c) behind it was still DMA-active"
    }
  }
}
