import MMIO

/// One entry of a driver's match table: `struct pci_device_id`, `struct of_device_id` or
/// `struct acpi_device_id`.
public enum DeviceMatch: Sendable, Hashable, CustomStringConvertible {
  /// `PCI_DEVICE(vendor, device)`.
  case pci(vendor: UInt16, device: UInt16)
  /// `PCI_DEVICE_CLASS(class, mask)`: the 24-bit class code under a mask.
  case pciClass(UInt32, mask: UInt32)
  /// A device-tree `compatible` string.
  case compatible(String)
  /// An ACPI `_HID`.
  case acpi(String)
  /// `platform_match()`'s last resort: the driver's name equals the platform device's name
  /// without its instance suffix, as for the devices IORT creates (`arm-smmu.0.auto`).
  case name(String)

  public var description: String {
    switch self {
    case .pci(let v, let d): "pci \(hex(v, digits: 4)):\(hex(d, digits: 4))"
    case .pciClass(let c, let m): "pci class \(hex(c, digits: 6))/\(hex(m, digits: 6))"
    case .compatible(let c): "compatible \"\(c)\""
    case .acpi(let h): "acpi \(h)"
    case .name(let n): "name \(n)"
    }
  }

  /// Whether `device` is matched by this entry (`pci_match_one_device`, `of_match_device`, ...).
  // Inlinable: each driver's ``DeviceDriver/match(_:)`` has it inline.
  @inlinable
  public func matches(_ device: Device) -> Bool {
    // One switch per side, not over a tuple of both: the tuple would copy the entry and the
    // device's identity (retaining their strings) for every driver-device pair tried.
    switch self {
    case .pci(let v, let d):
      guard case .pci(let id) = device.identity else { return false }
      return id.vendor == v && id.device == d
    case .pciClass(let c, let m):
      guard case .pci(let id) = device.identity else { return false }
      return id.classCode & m == c & m
    case .compatible(let c):
      guard case .platform(let compatible, _) = device.identity else { return false }
      // Lengths first: most strings a driver's entries meet are another device's, of another
      // length, told apart without the string comparison's slow path.
      let length = c.utf8.count
      return compatible.contains { $0.utf8.count == length && $0 == c }
    case .acpi(let h):
      guard case .platform(_, let hid) = device.identity else { return false }
      return hid == h
    case .name(let n):
      guard case .platform = device.identity else { return false }
      return Self.isInstance(device.name, of: n)
    }
  }

  /// `name` is `base` or `base.<instance>`: compared in place, without building `base + "."`
  /// for every device a driver is matched against.
  @usableFromInline
  static func isInstance(_ name: String, of base: String) -> Bool {
    guard name.hasPrefix(base) else { return false }
    let rest = name.utf8.dropFirst(base.utf8.count)
    return rest.isEmpty || rest.first == UInt8(ascii: ".")
  }
}

/// How firmware identifies a device to the driver core.
public enum DeviceIdentity: Sendable, Hashable {
  case pci(PCIIdentity)
  /// A platform device: device-tree compatibles and/or an ACPI _HID.
  case platform(compatible: [String], acpiHID: String?)
}

/// Vendor, device and class of a PCI function.
public struct PCIIdentity: Sendable, Hashable, CustomStringConvertible {
  public var vendor: UInt16
  public var device: UInt16
  /// The 24-bit class code (base class, subclass, programming interface): 0x080600 for an IOMMU.
  public var classCode: UInt32
  public init(vendor: UInt16, device: UInt16, classCode: UInt32) {
    self.vendor = vendor
    self.device = device
    self.classCode = classCode
  }
  public var description: String {
    "[\(hex(vendor, digits: 4).dropFirst(2)):\(hex(device, digits: 4).dropFirst(2))] class \(hex(classCode, digits: 6))"
  }
}
