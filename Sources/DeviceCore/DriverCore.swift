import Kernel
import Memory

/// The driver core of one kernel (drivers/base): the device list in `devices_kset` order,
/// registered drivers, probing with deferral, device links and `device_shutdown()`.
public final class DriverCore {
  public let kernel: Kernel
  // The state below is read and changed on every probe; each change is a single store, append
  // or removal (no callback runs while one is in progress), so dynamic exclusivity checks are
  // left out.
  /// `devices_kset->list`: registration order, adjusted by link reordering and deferred probing.
  /// `device_shutdown()` walks it from the end.
  @exclusivity(unchecked) public private(set) var devices: [Device] = []
  @exclusivity(unchecked) public private(set) var drivers: [any DeviceDriver] = []
  @exclusivity(unchecked) public private(set) var links: [DeviceLink] = []
  /// Devices waiting for a retry (`deferred_probe_pending_list`).
  @exclusivity(unchecked) public private(set) var deferred: [Device] = []
  // (Other modules read it through an inlinable accessor: they do not see the attribute.)
  /// Every violation seen, in order.
  public var violations: [Violation] { @inlinable get { uncheckedViolations } }
  @exclusivity(unchecked) @usableFromInline var uncheckedViolations: [Violation] = []
  /// When true, MMIO after shutdown is refused (-ENXIO) instead of only recorded.
  @exclusivity(unchecked) public var strictEnforcement = false
  /// Set by ``initcallsDone()``: from then on a device whose IOMMU never bound probes without it.
  @exclusivity(unchecked) public private(set) var initcallsComplete = false
  /// Hooks run after the device walk of ``deviceShutdown()``: `machine_shutdown()`'s
  /// `x86_platform.iommu_shutdown()` (intel_iommu_shutdown) is one.
  @exclusivity(unchecked) public private(set) var lateShutdownHooks: [(name: String, run: () -> Void)] = []
  /// The order in which shutdown callbacks ran during the last ``deviceShutdown()``.
  @exclusivity(unchecked) public private(set) var shutdownOrder: [String] = []

  /// The machine's physical memory, as the CPU sees it (drivers read and write the tables and
  /// queues they allocated through it).
  public let memory: PhysicalMemory?
  /// The pool `dma_alloc_coherent()` carves buffers from: memory this kernel owns.
  public let dmaAllocator: DMAAllocator?

  /// Whether the kernel's log keeps lines (it never changes): read for every device registered.
  let logIsRecording: Bool

  public init(kernel: Kernel, memory: PhysicalMemory? = nil, dmaAllocator: DMAAllocator? = nil) {
    self.kernel = kernel
    logIsRecording = kernel.log.isRecording
    self.memory = memory
    self.dmaAllocator = dmaAllocator
    // A kernel registers a handful to a few dozen of each: grown once, not step by step.
    devices.reserveCapacity(16)
    drivers.reserveCapacity(16)
    links.reserveCapacity(16)
  }

  /// The kernel is gone: each device drops its driver and driver data, as
  /// `device_release_driver()` frees them. A driver's per-device state points back at its
  /// device (`smmu->dev`, `iommu->dev`), so the pair would otherwise keep each other, and
  /// everything they reach, alive after the kernel.
  deinit {
    // First every device forgets this core (it reaches it unowned(unsafe)): a driver freed
    // below may still look at its device's core, and must find none.
    for device in devices { device.core = nil }
    for device in devices {
      device.uncheckedDriverData = nil
      device.driver = nil
    }
  }

  func record(_ v: Violation) { uncheckedViolations.append(v) }

  /// The device named `name`.
  public func device(named name: String) -> Device? { devices.first { $0.name == name } }

  // MARK: Registration and probe

  /// `device_add()`: appends the device to the list and tries to bind a driver.
  public func register(_ device: Device) {
    precondition(device.core == nil, "\(device.name) is already registered")
    device.core = self
    devices.append(device)
    attach(device)
  }

  /// `driver_register()`: binds the driver to every matching unbound device.
  public func register(_ driver: any DeviceDriver) {
    drivers.append(driver)
    for device in devices where device.state == .registered || device.state == .deferred {
      if driver.match(device) != nil { attach(device) }
    }
  }

  /// `device_attach()`: the first matching driver probes the device.
  private func attach(_ device: Device) {
    for driver in drivers {
      guard let match = driver.match(device) else { continue }
      if reallyProbe(device, driver: driver, match: match) { return }
      if device.state == .deferred { return }
    }
  }

  /// `really_probe()`: configures the device's IOMMU (deferring while it is not bound), sets
  /// `dev->driver`, calls `->probe()`. On success, links the device to its IOMMU and retries
  /// the deferred list.
  @discardableResult
  private func reallyProbe(_ device: Device, driver: any DeviceDriver, match: DeviceMatch) -> Bool {
    var behindIOMMU = false
    // dev->driver is set before dma_configure(), so its messages carry the driver's name.
    device.driver = driver
    if let iommu = device.iommu {
      if iommu.isBound {
        behindIOMMU = true
      } else if !initcallsComplete {
        // of_iommu_configure() -> driver_deferred_probe_check_state(): -EPROBE_DEFER.
        device.driver = nil
        deferProbe(device)
        return false
      } else {
        // After initcalls, with no modules: "ignoring dependency for device, assuming no driver".
        device.warn("ignoring dependency for device, assuming no driver")
      }
    }
    do {
      try driver.probe(device, match: match)
    } catch {
      device.driver = nil
      device.driverData = nil
      if error == .EPROBE_DEFER {
        deferProbe(device)
      } else {
        device.state = .probeFailed(error)
        if error != .ENODEV && error != .ENXIO {
          kernel.printk(
            .warning,
            "\(driver.name) \(device.name): probe with driver \(driver.name) failed with error \(error.returnValue)"
          )
        }
      }
      return false
    }
    device.state = .bound
    device.isBehindActiveIOMMU = behindIOMMU
    if !deferred.isEmpty { deferred.removeAll { $0 === device } }
    if behindIOMMU, let iommu = device.iommu {
      // arm_smmu_probe_device() / fw_devlink: the master becomes a consumer of its IOMMU.
      try? addLink(supplier: iommu, consumer: device)
    }
    triggerDeferredProbe()
    return true
  }

  private func deferProbe(_ device: Device) {
    device.state = .deferred
    if !deferred.contains(where: { $0 === device }) { deferred.append(device) }
  }

  /// `driver_deferred_probe_trigger()`: retries every deferred device, each moved to the tail of
  /// the device list first (`device_pm_move_to_tail()`), as the deferred-probe worker does.
  private func triggerDeferredProbe() {
    let pending = deferred
    for device in pending where device.state == .deferred {
      reorderToTail(device)
      deferred.removeAll { $0 === device }
      device.state = .registered
      attach(device)
    }
  }

  /// `deferred_probe_initcall()` at the end of boot: retries once more; from now on devices whose
  /// IOMMU never bound probe without it (direct DMA).
  public func initcallsDone() {
    initcallsComplete = true
    triggerDeferredProbe()
  }

  /// `device_release_driver()`: calls `->remove()` and unbinds.
  public func unbind(_ device: Device) {
    guard device.isBound, let driver = device.driver else { return }
    for link in links where link.supplier === device {
      unbind(link.consumer)
    }
    driver.remove(device)
    device.driver = nil
    device.driverData = nil
    device.state = .removed
  }

  // MARK: Device links

  /// `device_link_add()`: makes `consumer` depend on `supplier` and moves the consumer (with its
  /// children and consumers) to the tail of the device list, so it shuts down first. A link
  /// that would close a cycle is refused with -EINVAL, as `device_is_dependent()` makes the
  /// kernel refuse it.
  public func addLink(supplier: Device, consumer: Device) throws(Errno) {
    if links.contains(DeviceLink(supplier: supplier, consumer: consumer)) { return }
    if supplier === consumer || isDependent(consumer, on: supplier) {
      kernel.printk(
        .err,
        "Unable to create device link between \(supplier.name) and \(consumer.name): would form a cycle"
      )
      throw .EINVAL
    }
    links.append(DeviceLink(supplier: supplier, consumer: consumer))
    reorderToTail(consumer)
  }

  /// Links where `device` is the supplier.
  public func consumers(of device: Device) -> [Device] {
    links.filter { $0.supplier === device }.map(\.consumer)
  }

  /// Links where `device` is the consumer.
  public func suppliers(of device: Device) -> [Device] {
    links.filter { $0.consumer === device }.map(\.supplier)
  }

  /// `device_is_dependent(dev, target)`: whether `target` is `dev`'s child or consumer, at any depth.
  /// A link supplier -> consumer is refused when the supplier already depends on the consumer.
  private func isDependent(_ device: Device, on target: Device) -> Bool {
    for child in device.children {
      if child === target || isDependent(child, on: target) { return true }
    }
    // The links themselves, not ``consumers(of:)``: no array per step of the walk.
    for link in links where link.supplier === device {
      if link.consumer === target || isDependent(link.consumer, on: target) { return true }
    }
    return false
  }

  /// `device_reorder_to_tail()`.
  private func reorderToTail(_ device: Device) {
    guard let i = devices.firstIndex(where: { $0 === device }) else { return }
    // Already the tail (a device just added, linked to its IOMMU): nothing moves.
    if i != devices.count - 1 {
      devices.remove(at: i)
      devices.append(device)
    }
    for child in device.children { reorderToTail(child) }
    // Reordering changes no link: walk them in place instead of copying the consumers out.
    for link in links where link.supplier === device { reorderToTail(link.consumer) }
  }

  // MARK: Shutdown

  /// Adds a hook that runs after the device walk of ``deviceShutdown()`` (the x86 platform's
  /// `iommu_shutdown`, called from `native_machine_shutdown()`).
  public func addLateShutdownHook(_ name: String, _ run: @escaping () -> Void) {
    lateShutdownHooks.append((name, run))
  }

  /// `device_shutdown()` (drivers/base/core.c, Linux 7.2): takes devices from the tail of the
  /// list, so consumers go before their suppliers; the bus's `->shutdown` takes precedence over
  /// the driver's (both PCI and platform buses forward to the driver, and the PCI bus then clears
  /// Bus Master Enable when a kexec is in progress). Then the late hooks run.
  public func deviceShutdown() {
    shutdownOrder = []
    shutdownOrder.reserveCapacity(devices.count + lateShutdownHooks.count)
    for device in devices.reversed() {
      checkOrdering(beforeShuttingDown: device)
      if let driver = device.driver, device.isBound, driver.hasShutdown {
        shutdownOrder.append(device.name)
        driver.shutdown(device)
      }
      if device.bus == .pci && kernel.context.kexecInProgress {
        // pci_device_shutdown(): "turn off Bus Master bit on the device to tell it to not
        // continue to do DMA".
        clearMaster(device)
      }
      device.state = .shutDown
    }
    for hook in lateShutdownHooks {
      shutdownOrder.append(hook.name)
      hook.run()
    }
  }

  /// `pci_clear_master()`: clears Command.BME (bit 2 of offset 0x04) in config space.
  private func clearMaster(_ device: Device) {
    device.busMasterEnabled = false
    // With Bus Master Enable clear the function can issue no more DMA.
    device.isDMAActive = false
    guard let config = device.configSpace else { return }
    if let command = try? config.read(UInt16.self, at: 0x04), command & 0x4 != 0 {
      try? config.write(command & ~0x4, at: 0x04)
    }
  }

  /// Records an ordering violation for every consumer of `device` (by link or by firmware's IOMMU
  /// placement) still DMA-active: one not yet reached by the walk, or one passed over because its
  /// driver has no `->shutdown`, or whose `->shutdown` did not stop its DMA.
  private func checkOrdering(beforeShuttingDown device: Device) {
    // Linked consumers first, then devices firmware places behind it that are not linked: in
    // place, without collecting them (most devices have neither).
    for link in links where link.supplier === device && link.consumer.isDMAActive {
      record(.iommuShutdownBeforeConsumer(iommu: device.name, consumer: link.consumer.name))
    }
    for d in devices where d.iommu === device && d.isDMAActive {
      if links.contains(where: { $0.supplier === device && $0.consumer === d }) { continue }
      record(.iommuShutdownBeforeConsumer(iommu: device.name, consumer: d.name))
    }
  }
}
