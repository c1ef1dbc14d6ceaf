/// A device-tree (or `_DSD`) property value: `u32` cells, strings, or a boolean that is present
/// with no value (`dma-coherent`).
public enum FirmwareProperty: Sendable, Hashable, ExpressibleByArrayLiteral, ExpressibleByStringLiteral {
  case cells([UInt32])
  case strings([String])
  case flag

  public init(arrayLiteral elements: UInt32...) { self = .cells(elements) }
  public init(stringLiteral value: String) { self = .strings([value]) }
}

extension Device {
  /// `device_property_present()`.
  public func propertyPresent(_ name: String) -> Bool { properties[name] != nil }

  /// `device_property_read_u32()`: the first cell, or nil when absent or not cells.
  public func propertyU32(_ name: String) -> UInt32? {
    if case .cells(let c) = properties[name] { return c.first }
    return nil
  }

  /// `device_property_read_u32_array()`.
  public func propertyCells(_ name: String) -> [UInt32]? {
    if case .cells(let c) = properties[name] { return c }
    return nil
  }

  /// `device_property_read_string_array()`.
  public func propertyStrings(_ name: String) -> [String]? {
    if case .strings(let s) = properties[name] { return s }
    return nil
  }
}
