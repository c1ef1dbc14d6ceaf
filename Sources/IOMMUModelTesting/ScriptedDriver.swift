/// A driver whose callbacks a test scripts, recording each call as `probe NAME`,
/// `shutdown NAME`, `remove NAME` in ``events``.
public final class ScriptedDriver: DeviceDriver {
  public let name: String
  public let bus: BusType
  public let matchTable: [DeviceMatch]
  public let hasShutdown: Bool
  /// Runs in `->probe()`; throw to fail it.
  public var onProbe: (Device) throws(Errno) -> Void
  /// Runs in `->shutdown()`.
  public var onShutdown: (Device) -> Void
  public private(set) var events: [String] = []

  public init(
    name: String, bus: BusType = .platform, matchTable: [DeviceMatch], hasShutdown: Bool = true,
    onProbe: @escaping (Device) throws(Errno) -> Void = { _ throws(Errno) in },
    onShutdown: @escaping (Device) -> Void = { _ in }
  ) {
    self.name = name
    self.bus = bus
    self.matchTable = matchTable
    self.hasShutdown = hasShutdown
    self.onProbe = onProbe
    self.onShutdown = onShutdown
  }

  public func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    events.append("probe \(device.name)")
    try onProbe(device)
  }

  public func remove(_ device: Device) { events.append("remove \(device.name)") }

  public func shutdown(_ device: Device) {
    events.append("shutdown \(device.name)")
    onShutdown(device)
  }
}

extension Device {
  /// A platform device with one compatible string, for tests.
  public static func platform(
    _ name: String, compatible: String, parent: Device? = nil, iommu: Device? = nil,
    resources: [DeviceResource] = []
  ) -> Device {
    Device(
      name: name, bus: .platform, identity: .platform(compatible: [compatible], acpiHID: nil),
      parent: parent,
      resources: resources, iommu: iommu)
  }
}
