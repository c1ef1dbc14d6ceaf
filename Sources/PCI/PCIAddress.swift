import MMIO

/// A PCI function's address: domain:bus:device.function, printed as the kernel names it
/// (`0000:00:01.0`). Ordered as lspci sorts.
public struct PCIAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
  public var domain: UInt32
  public var bus: UInt8
  public var device: UInt8
  public var function: UInt8

  public init(domain: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
    self.domain = domain
    self.bus = bus
    self.device = device
    self.function = function
  }

  /// Parses `0000:00:01.0` or `00:01.0`.
  public init?(_ text: String) {
    let parts = text.split(separator: ":")
    guard parts.count == 2 || parts.count == 3 else { return nil }
    let domain = parts.count == 3 ? UInt32(parts[0], radix: 16) : 0
    let devfn = parts[parts.count - 1].split(separator: ".")
    guard let domain, devfn.count == 2, let bus = UInt8(parts[parts.count - 2], radix: 16),
      let dev = UInt8(devfn[0], radix: 16), dev < 32, let fn = UInt8(devfn[1], radix: 16), fn < 8
    else { return nil }
    self.init(domain: domain, bus: bus, device: dev, function: fn)
  }

  /// The function whose DMA carries requester ID `rid` (bus << 8 | devfn).
  public init(domain: UInt32 = 0, requesterID rid: UInt16) {
    self.init(
      domain: domain, bus: UInt8(truncatingIfNeeded: rid >> 8), device: UInt8(truncatingIfNeeded: rid >> 3 & 0x1f),
      function: UInt8(truncatingIfNeeded: rid & 7))
  }

  /// The 16-bit requester ID (bus << 8 | devfn) a function's DMA carries.
  public var requesterID: UInt16 { UInt16(bus) << 8 | UInt16(device) << 3 | UInt16(function) }

  public var description: String {
    "\(plainHex(domain, digits: 4)):\(plainHex(bus, digits: 2)):\(plainHex(device, digits: 2)).\(plainHex(function))"
  }

  public static func < (a: Self, b: Self) -> Bool {
    (a.domain, a.bus, a.device, a.function) < (b.domain, b.bus, b.device, b.function)
  }
}
