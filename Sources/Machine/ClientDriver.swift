import DeviceCore
import Kernel
import MMIO
import Memory

/// The driver of one client: probe allocates the device's buffers in this kernel's memory,
/// maps them through the IOMMU (or directly when the device probed without one), programs the
/// engine with the IOVAs and sets bus mastering; `->shutdown()`, when the client has one,
/// quiesces the engine.
final class ClientDriver: DeviceDriver {
  unowned let client: MachineClient
  unowned let machine: Machine

  init(client: MachineClient, machine: Machine) {
    self.client = client
    self.machine = machine
  }

  var name: String { client.spec.kind.driverName }
  var bus: BusType { machine.iommus[client.iommuIndex].adapter.clientBus }
  var hasShutdown: Bool { client.spec.quiesced }

  var matchTable: [DeviceMatch] {
    guard case .pci(let id)? = client.device?.identity else {
      return [.compatible("iommu-model,\(client.name)")]
    }
    return [.pci(vendor: id.vendor, device: id.device)]
  }

  func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
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
    var segments: [DMASegment] = []
    for _ in 0..<kind.buffers.count {
      let buffer = try device.dmaAllocCoherent(size: kind.buffers.size)
      machine.memory.setOwner(
        .deviceBuffer("\(machine.generation):\(client.name)"), base: buffer.address, size: buffer.size)
      let iova = try mapping.map(physical: buffer.address, size: buffer.size, dmaMask: kind.dmaMask)
      segments.append(DMASegment(iova: iova, physical: buffer.address, size: buffer.size))
    }
    client.engine.start(DMAProgram(generation: machine.generation, segments: segments))
    // pci_set_master(): the function may master the bus again.
    client.busMaster = true
    device.isDMAActive = true
    machine.event(
      device.name, "\(name) probed: \(segments.count) buffers mapped at IOVA \(hex(segments[0].iova, digits: 9))")
    machine.sampleDMA()
  }

  func shutdown(_ device: Device) {
    client.engine.quiesce()
    client.quiescedByOldKernel = true
    device.isDMAActive = false
    machine.event(device.name, "\(name) shutdown: DMA quiesced")
    machine.sampleDMA()
  }
}
