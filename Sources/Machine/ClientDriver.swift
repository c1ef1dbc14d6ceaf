import DeviceCore
import Kernel
import MMIO
import Memory

/// The driver of one client: probe allocates the device's buffers in this kernel's memory,
/// maps them through the IOMMU (or directly when the device probed without one), programs the
/// engine with the IOVAs and sets bus mastering; `->shutdown()`, when the client has one,
/// quiesces the engine.
final class ClientDriver: DeviceDriver {
  // unowned(unsafe): read many times per probe, and a checked unowned reference is retained
  // strongly on each read. Safe: this driver is reachable only from the driver core and the
  // device of one of `machine`'s kernels (the machine owns them, and its clients), and only a
  // running machine's kernels call it.
  unowned(unsafe) let client: MachineClient
  unowned(unsafe) let machine: Machine
  let bus: BusType
  let matchTable: [DeviceMatch]

  /// The driver for `client`, matching the devices the machine makes for it. It keeps no state
  /// of its own (the device and the client hold it), so each kernel registers the same one.
  init(client: MachineClient, machine: Machine) {
    self.client = client
    self.machine = machine
    bus = client.function.bus
    matchTable = client.function.matchTable
  }

  var name: String { client.spec.kind.driverName }
  var hasShutdown: Bool { client.spec.quiesced }

  func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    // Strong locals, read once: each read of an unowned(unsafe) property retains and releases
    // its object again.
    let client = client
    let machine = machine
    let kind = client.spec.kind
    let iommu = machine.iommus[client.iommuIndex]
    let mapping: any DMAMapping
    if let binding = iommu.binding, binding.device.isBound, device.iommu === binding.device {
      if iommu.variant == Machine.kernelListPolicy && machine.generation != "old"
        && !client.quiescedByOldKernel
      {
        // The proposal: a device the previous kernel did not quiesce stays blocked.
        throw device.errProbe(.EBUSY, "not quiesced by the previous kernel, left blocked")
      }
      mapping = try binding.attach(device, streamID: client.streamID)
    } else {
      mapping = DirectMapping()
    }
    // One coherent allocation holds all the buffers (a ring, a command table), mapped at once.
    let (count, size) = kind.buffers
    let area = try device.dmaAllocCoherent(size: UInt64(count) * size)
    let generation = machine.generation
    let memory = machine.memory
    let owner = client.function.bufferOwner(generation, in: memory)
    memory.setOwner(owner, base: area.address, size: area.size)
    let iova = try mapping.map(physical: area.address, size: area.size, dmaMask: kind.dmaMask)
    let segments = (0..<UInt64(count)).map {
      DMASegment(iova: iova + $0 * size, physical: area.address + $0 * size, size: size)
    }
    client.engine.start(DMAProgram(generation: generation, segments: segments))
    client.bufferOwner = owner
    // pci_set_master(): the function may master the bus again.
    client.busMaster = true
    device.isDMAActive = true
    machine.event(
      device.name, "\(name) probed: \(segments.count) buffers mapped at IOVA \(hex(segments[0].iova, digits: 9))")
    machine.sampleDMA()
  }

  func shutdown(_ device: Device) {
    let client = client
    let machine = machine
    client.engine.quiesce()
    client.quiescedByOldKernel = true
    device.isDMAActive = false
    machine.event(device.name, "\(name) shutdown: DMA quiesced")
    machine.sampleDMA()
  }
}
