import IOMMUModelTesting
import Testing

/// Specifications of drivers/base: device_add order, device_link_add reordering,
/// deferred probe and device_shutdown() (Linux 7.2).
@Suite("device_shutdown(): consumers before suppliers")
struct ShutdownOrderingTests {
  let env = TestKernel()
  let driver = ScriptedDriver(name: "test", matchTable: [.compatible("test")])

  init() { env.core.register(driver) }

  func add(_ name: String, parent: Device? = nil, iommu: Device? = nil) -> Device {
    let d = Device.platform(name, compatible: "test", parent: parent, iommu: iommu)
    env.core.register(d)
    return d
  }

  @Test("without links, the list is walked in reverse registration order")
  func reverseOrder() {
    _ = add("a")
    _ = add("b")
    _ = add("c")
    env.core.deviceShutdown()
    #expect(env.core.shutdownOrder == ["c", "b", "a"])
  }

  @Test("a chain of links added after registration: consumer, then its supplier, then that one's")
  func chainAddedLater() throws {
    let c = add("c")
    let b = add("b")
    let a = add("a")
    // a supplies b, b supplies c: registration order was c, b, a.
    try env.core.addLink(supplier: a, consumer: b)
    try env.core.addLink(supplier: b, consumer: c)
    #expect(env.core.devices.map(\.name) == ["a", "b", "c"])
    env.core.deviceShutdown()
    #expect(env.core.shutdownOrder == ["c", "b", "a"])
  }

  @Test("a diamond: the shared consumer goes first, the root supplier last")
  func diamond() throws {
    let d = add("d")
    let c = add("c")
    let b = add("b")
    let a = add("a")
    try env.core.addLink(supplier: a, consumer: b)
    try env.core.addLink(supplier: a, consumer: c)
    try env.core.addLink(supplier: b, consumer: d)
    try env.core.addLink(supplier: c, consumer: d)
    env.core.deviceShutdown()
    let order = env.core.shutdownOrder
    #expect(order.first == "d" && order.last == "a")
    #expect(order.firstIndex(of: "b")! < order.firstIndex(of: "a")!)
    #expect(order.firstIndex(of: "c")! < order.firstIndex(of: "a")!)
  }

  @Test("reordering moves the consumer's children with it")
  func childrenFollow() throws {
    let parent = add("consumer")
    _ = add("consumer-child", parent: parent)
    let supplier = add("supplier")
    try env.core.addLink(supplier: supplier, consumer: parent)
    #expect(env.core.devices.map(\.name) == ["supplier", "consumer", "consumer-child"])
  }

  @Test("a link that closes a cycle is refused with -EINVAL and logged")
  func cycle() throws {
    let a = add("a")
    let b = add("b")
    let c = add("c")
    try env.core.addLink(supplier: a, consumer: b)
    try env.core.addLink(supplier: b, consumer: c)
    #expect(throws: Errno.EINVAL) { try env.core.addLink(supplier: c, consumer: a) }
    #expect(env.log.last == "Unable to create device link between c and a: would form a cycle")
    #expect(throws: Errno.EINVAL) { try env.core.addLink(supplier: a, consumer: a) }
    #expect(env.core.links.count == 2)
  }

  @Test("a device whose driver has no ->shutdown is passed over, and keeps its DMA going")
  func missingShutdown() {
    let quiet = ScriptedDriver(name: "nic", matchTable: [.compatible("nic")], hasShutdown: false)
    env.core.register(quiet)
    let iommu = add("iommu")
    let nic = Device.platform("nic0", compatible: "nic", iommu: iommu)
    env.core.register(nic)
    nic.isDMAActive = true
    env.core.deviceShutdown()
    #expect(env.core.shutdownOrder == ["iommu"])
    #expect(quiet.events == ["probe nic0"])
    // Ordering is right (nic0 came first) but nic0 never stopped: the IOMMU went down under it.
    #expect(env.core.violations == [.iommuShutdownBeforeConsumer(iommu: "iommu", consumer: "nic0")])
  }

  @Test("late shutdown hooks run after every device (x86 iommu_shutdown)")
  func lateHook() {
    _ = add("a")
    env.core.addLateShutdownHook("intel_iommu_shutdown") {}
    env.core.deviceShutdown()
    #expect(env.core.shutdownOrder == ["a", "intel_iommu_shutdown"])
  }
}

@Suite("Deferred probe: a device waits for its IOMMU")
struct DeferredProbeTests {
  let env = TestKernel()

  @Test("a consumer registered before its IOMMU defers, probes when the IOMMU binds, and is linked")
  func defersUntilIOMMUBinds() {
    let client = ScriptedDriver(name: "client", matchTable: [.compatible("client")])
    let iommuDriver = ScriptedDriver(name: "iommu", matchTable: [.compatible("iommu")])
    env.core.register(client)
    let iommu = Device.platform("iommu0", compatible: "iommu")
    let dev = Device.platform("dev0", compatible: "client", iommu: iommu)
    env.core.register(dev)
    #expect(dev.state == .deferred)
    #expect(client.events.isEmpty)
    env.core.register(iommu)
    env.core.register(iommuDriver)
    #expect(dev.state == .bound && dev.isBehindActiveIOMMU)
    #expect(env.core.links.map(\.description) == ["iommu0 -> dev0"])
    #expect(env.core.devices.map(\.name) == ["iommu0", "dev0"])
  }

  @Test("a driver returning -EPROBE_DEFER is retried when another driver binds")
  func retried() {
    var ready = false
    let waiting = ScriptedDriver(
      name: "w", matchTable: [.compatible("w")],
      onProbe: { _ throws(Errno) in
        if !ready { throw .EPROBE_DEFER }
      })
    let other = ScriptedDriver(
      name: "o", matchTable: [.compatible("o")], onProbe: { _ throws(Errno) in ready = true })
    env.core.register(waiting)
    env.core.register(other)
    let w = Device.platform("w0", compatible: "w")
    env.core.register(w)
    #expect(w.state == .deferred)
    env.core.register(Device.platform("o0", compatible: "o"))
    #expect(w.state == .bound)
    #expect(waiting.events == ["probe w0", "probe w0"])
  }

  @Test("when the IOMMU's probe failed, initcalls end and the consumer probes without it")
  func iommuFailed() {
    let iommuDriver = ScriptedDriver(
      name: "iommu", matchTable: [.compatible("iommu")],
      onProbe: { d throws(Errno) in
        throw d.errProbe(.EBUSY, "unexpected device state")
      })
    let client = ScriptedDriver(name: "client", matchTable: [.compatible("client")])
    env.core.register(iommuDriver)
    env.core.register(client)
    let iommu = Device.platform("iommu0", compatible: "iommu")
    env.core.register(iommu)
    let dev = Device.platform("dev0", compatible: "client", iommu: iommu)
    env.core.register(dev)
    #expect(iommu.state == .probeFailed(.EBUSY))
    #expect(dev.state == .deferred)
    env.core.initcallsDone()
    #expect(dev.state == .bound && !dev.isBehindActiveIOMMU)
    #expect(
      env.log == [
        "iommu iommu0: error -EBUSY: unexpected device state",
        "iommu iommu0: probe with driver iommu failed with error -16",
        "client dev0: ignoring dependency for device, assuming no driver",
      ])
  }
}

@Suite("Enforcement after shutdown")
struct EnforcementTests {
  let env = TestKernel()

  func boundDevice() -> (Device, SimulatedRegisterFile) {
    let regs = SimulatedRegisterFile(
      size: 0x100, registers: [.init("CTRL", offset: 0, width: .dword)])
    let drv = ScriptedDriver(name: "d", matchTable: [.compatible("d")])
    env.core.register(drv)
    let dev = Device.platform(
      "d0", compatible: "d", resources: [DeviceResource(name: "regs", base: 0x1000_0000, io: regs)])
    env.core.register(dev)
    return (dev, regs)
  }

  @Test("MMIO after shutdown is recorded; in strict mode it is refused with -ENXIO")
  func mmioAfterShutdown() throws {
    let (dev, regs) = boundDevice()
    let mem = try dev.ioremap()
    try mem.writel(1, 0)
    env.core.deviceShutdown()
    try mem.writel(2, 0)
    #expect(env.core.violations == [.mmioAfterShutdown(device: "d0", offset: 0)])
    env.core.strictEnforcement = true
    #expect(throws: Errno.ENXIO) { try mem.readl(0) }
    #expect(mem.lastError == .revoked(device: "d0", offset: 0))
    #expect(regs.peek(.dword, at: 0) == 2)
  }

  @Test("DMA after the device's own shutdown is recorded")
  func dmaAfterShutdown() {
    let (dev, _) = boundDevice()
    dev.noteDMA(bytes: 64)
    env.core.deviceShutdown()
    dev.noteDMA(bytes: 64)
    #expect(env.core.violations == [.dmaAfterShutdown(device: "d0", bytes: 64)])
  }

  @Test("bad MMIO offsets come back as -EINVAL with the precise error kept and logged")
  func badOffset() throws {
    let (dev, _) = boundDevice()
    let mem = try dev.ioremap()
    #expect(throws: Errno.EINVAL) { try mem.readq(0x100) }
    #expect(mem.lastError == .outOfBounds(offset: 0x100, width: .qword, size: 0x100))
    #expect(
      env.log.last == "d d0: MMIO 64-bit access at 0x100 is out of bounds (region size 0x100)")
  }

  @Test("kexec clears Bus Master Enable on every PCI function, quiesced or not")
  func pciClearMaster() throws {
    env.kernel.context.kexecInProgress = true
    let config = SimulatedConfigSpace.make(vendor: 0x8086, device: 0x1234, classCode: 0x02_0000)
    try config.write(UInt16(0x6), at: PCIConfig.command)
    let nic = Device(
      name: "0000:00:02.0", bus: .pci,
      identity: .pci(PCIIdentity(vendor: 0x8086, device: 0x1234, classCode: 0x02_0000)),
      configSpace: config)
    env.core.register(nic)
    env.core.deviceShutdown()
    #expect(try config.read(UInt16.self, at: PCIConfig.command) == 0x2)
    #expect(!nic.busMasterEnabled)
  }
}
