import Kernel
import MMIO

/// The bus a device sits on. Both the PCI and the platform bus have a `->shutdown` of their own
/// that forwards to the driver's, so the bus's takes precedence in `device_shutdown()`.
public enum BusType: String, Sendable, Hashable, CustomStringConvertible {
  case platform
  case pci
  public var description: String { rawValue }
}

/// Where a device is in its life, as the driver core sees it.
public enum DeviceState: Sendable, Hashable, CustomStringConvertible {
  /// Added, no driver bound yet.
  case registered
  /// Probe returned -EPROBE_DEFER; it will be retried when another driver binds.
  case deferred
  /// Probe failed with an error other than -EPROBE_DEFER.
  case probeFailed(Errno)
  case bound
  /// `device_shutdown()` has passed it.
  case shutDown
  /// Unbound by `device_release_driver()`.
  case removed

  public var description: String {
    switch self {
    case .registered: "registered"
    case .deferred: "deferred"
    case .probeFailed(let e): "probe failed (\(e))"
    case .bound: "bound"
    case .shutDown: "shut down"
    case .removed: "removed"
    }
  }
}

/// An MMIO resource of a device (`struct resource` of type IORESOURCE_MEM): a physical base,
/// and the register block behind it.
public struct DeviceResource {
  public var name: String
  public var base: UInt64
  public var io: any WritableRegisterIO
  public var size: Int { io.size }
  public init(name: String, base: UInt64, io: any WritableRegisterIO) {
    self.name = name
    self.base = base
    self.io = io
  }
}

/// `struct device`: a node the driver core probes, links and shuts down.
public final class Device: CustomStringConvertible {
  /// `dev_name()`: `0000:00:01.0` for PCI, `10000000.iommu` for platform devices.
  public let name: String
  public let bus: BusType
  public let identity: DeviceIdentity
  // The state below is read on every probe, MMIO access or DMA transaction and changed by plain
  // stores or single appends, never while another access to it is in progress: no dynamic
  // exclusivity checks. Other modules do not see `@exclusivity(unchecked)`, so what they read
  // often goes through an inlinable accessor over unchecked storage.
  @exclusivity(unchecked) public private(set) weak var parent: Device?
  @exclusivity(unchecked) public private(set) var children: [Device] = []
  /// MMIO resources in firmware order (BAR0 first for PCI).
  public var resources: [DeviceResource] {
    @inlinable get { uncheckedResources }
    set { uncheckedResources = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedResources: [DeviceResource]
  /// PCI configuration space (simulated), for PCI functions.
  public var configSpace: (any WritableRegisterIO)? {
    @inlinable get { uncheckedConfigSpace }
    set { uncheckedConfigSpace = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedConfigSpace: (any WritableRegisterIO)?
  /// Interrupt lines or vectors firmware gives the device.
  public var irqCount: Int {
    @inlinable get { uncheckedIRQCount }
    set { uncheckedIRQCount = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedIRQCount: Int
  /// The IOMMU firmware places this device behind (`iommus = <&smmu 0x10>`, a DMAR device
  /// scope, an IORT ID mapping). The driver core defers the device's probe until that IOMMU's
  /// driver has bound.
  public var iommu: Device? {
    @inlinable get { uncheckedIOMMU }
    set { uncheckedIOMMU = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedIOMMU: Device?
  /// Stream / requester IDs the device emits (the fwspec IDs).
  public var streamIDs: [UInt32] {
    @inlinable get { uncheckedStreamIDs }
    set { uncheckedStreamIDs = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedStreamIDs: [UInt32]
  /// Firmware properties of the device's node (`#global-interrupts = <1>`, `dma-coherent`,
  /// `interrupt-names = "eventq", "gerror"`), read with the `device_property_*` accessors below.
  public var properties: [String: FirmwareProperty] {
    @inlinable get { uncheckedProperties }
    set { uncheckedProperties = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedProperties: [String: FirmwareProperty] = [:]
  /// `dev_get_platdata()`: data the code that created the device attached to it (the IORT
  /// node of an SMMU that ACPI describes).
  public var platformData: (any Sendable)? {
    @inlinable get { uncheckedPlatformData }
    set { uncheckedPlatformData = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedPlatformData: (any Sendable)?
  /// Set by the driver core once the IOMMU layer attached the device to its IOMMU
  /// (`dev->iommu` with ops); false when the device probed without one (direct DMA).
  @exclusivity(unchecked) public internal(set) var isBehindActiveIOMMU = false

  public internal(set) var state: DeviceState {
    @inlinable get { uncheckedState }
    set { uncheckedState = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedState: DeviceState = .registered
  @exclusivity(unchecked) public internal(set) var driver: (any DeviceDriver)?
  /// `dev_get_drvdata()`: the driver's per-device state.
  public var driverData: AnyObject? {
    @inlinable get { uncheckedDriverData }
    set { uncheckedDriverData = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedDriverData: AnyObject?
  /// Whether the device's DMA engine has work in flight: set by DMA masters (the machine model)
  /// or by a test. The shutdown ordering check reads it.
  public var isDMAActive: Bool {
    @inlinable get { uncheckedIsDMAActive }
    set { uncheckedIsDMAActive = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedIsDMAActive = false
  /// For PCI functions: the Bus Master Enable bit (`pci_set_master` / `pci_clear_master`).
  public internal(set) var busMasterEnabled: Bool {
    @inlinable get { uncheckedBusMasterEnabled }
    set { uncheckedBusMasterEnabled = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedBusMasterEnabled = true

  public internal(set) var core: DriverCore? {
    @inlinable get { uncheckedCore }
    set {
      uncheckedCore = newValue
      logMayRecord = newValue?.logIsRecording ?? false
    }
  }
  // Not a strong reference: the core holds its devices (a cycle). Not weak either: each read
  // of a weak reference goes through the runtime (`dma_alloc_coherent()`, MMIO, DMA accounting
  // read it), and the first store gives the core a side table. unowned(unsafe) is safe: only
  // ``DriverCore/register(_:)`` sets it, and that core lists the device from then on; its
  // deinit sets it back to nil first thing, as a weak reference would read.
  @exclusivity(unchecked) @usableFromInline unowned(unsafe) var uncheckedCore: DriverCore?
  /// False when the core this device joined keeps no log (a log's `isRecording` never
  /// changes): `dev_printk()` then returns without loading `core` (and its kernel and
  /// log), which the matrix's silent kernels would otherwise do for every message.
  @exclusivity(unchecked) private var logMayRecord = false

  public init(
    name: String, bus: BusType, identity: DeviceIdentity, parent: Device? = nil,
    resources: [DeviceResource] = [], configSpace: consuming (any WritableRegisterIO)? = nil,
    irqCount: Int = 0,
    iommu: Device? = nil, streamIDs: [UInt32] = []
  ) {
    self.name = name
    self.bus = bus
    self.identity = identity
    self.uncheckedResources = resources
    self.uncheckedIRQCount = irqCount
    self.uncheckedIOMMU = iommu
    self.uncheckedStreamIDs = streamIDs
    // Moved in, not copied and the parameter destroyed after (each a call on an existential).
    self.uncheckedConfigSpace = consume configSpace
    // Stored only when given (most devices have none): storing over the nil a weak reference
    // starts with goes through the runtime.
    if let parent {
      self.parent = parent
      parent.children.append(self)
    }
  }

  public var description: String { name }

  /// `dev_driver_string()`: the bound driver's name, else the bus's.
  public var driverString: String { driver?.name ?? bus.rawValue }

  public var isBound: Bool { state == .bound }

  /// The kernel this device's driver core runs in.
  public var kernel: Kernel? { core?.kernel }

  // MARK: dev_printk

  /// `dev_printk()`: `riscv-iommu 0000:00:01.0: message`.
  public func printk(_ level: KernelLogLevel, _ message: @autoclosure () -> String) {
    guard logMayRecord, let log = core?.kernel.log else { return }
    log.printk(level, Self.devLine(driverString, name, message()))
  }

  /// `driver name: message`, copied once into a string of its exact size: drivers log on every
  /// probe, in every kernel of a handover, and appending piece by piece costs more.
  static func devLine(_ driver: String, _ name: String, _ message: String) -> String {
    var (driver, name, message) = (driver, name, message)
    let count = driver.utf8.count + name.utf8.count + message.utf8.count + 3
    return driver.withUTF8 { d in
      name.withUTF8 { n in
        message.withUTF8 { m in
          String(unsafeUninitializedCapacity: count) { out in
            var at = 0
            func put(_ bytes: UnsafeBufferPointer<UInt8>) {
              guard let source = bytes.baseAddress, let target = out.baseAddress else { return }
              (target + at).initialize(from: source, count: bytes.count)
              at += bytes.count
            }
            func put(_ byte: Unicode.Scalar) {
              out[at] = UInt8(ascii: byte)
              at += 1
            }
            put(d)
            put(" ")
            put(n)
            put(":")
            put(" ")
            put(m)
            return at
          }
        }
      }
    }
  }
  public func err(_ message: @autoclosure () -> String) { printk(.err, message()) }
  public func warn(_ message: @autoclosure () -> String) { printk(.warning, message()) }
  public func notice(_ message: @autoclosure () -> String) { printk(.notice, message()) }
  public func info(_ message: @autoclosure () -> String) { printk(.info, message()) }
  public func dbg(_ message: @autoclosure () -> String) { printk(.debug, message()) }

  /// `dev_err_probe()`: logs `error -EBUSY: message` (at debug level for -EPROBE_DEFER, as the
  /// kernel does) and returns the error for the caller to throw.
  @discardableResult
  public func errProbe(_ error: Errno, _ message: @autoclosure () -> String) -> Errno {
    printk(error == .EPROBE_DEFER ? .debug : .err, "error \(error): \(message())")
    return error
  }

  // MARK: Resources

  /// `devm_ioremap_resource()` / `pcim_iomap()`: the register block of resource `index`, as the
  /// driver accesses it. Accesses after the device is shut down or removed are violations.
  public func ioremap(_ index: Int = 0) throws(Errno) -> IOMem {
    guard index < resources.count else {
      err("invalid resource")
      throw .ENODEV
    }
    return IOMem(device: self, resource: resources[index])
  }

  /// Notes that the device issued DMA now; after shutdown that is a violation.
  public func noteDMA(bytes: Int = 0) {
    switch state {
    case .shutDown, .removed:
      core?.record(.dmaAfterShutdown(device: name, bytes: bytes))
    default: break
    }
  }
}
