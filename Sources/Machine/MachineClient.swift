import DeviceCore
import MMIO
import Memory
import PCI
import SimulatedHardware

/// One client device of a machine: the silicon (its DMA engine and Bus Master Enable, which
/// survive kexec) and the `Device` the current kernel has for it.
public final class MachineClient {
  public let spec: ClientSpec
  /// `nic0`, `storage1`...: the compatible suffix and, on a platform bus, the device name.
  public var name: String { function.name }
  public let streamID: UInt32
  public let iommuIndex: Int
  public let engine: DMAEngine
  /// The function's Bus Master Enable as the hardware holds it, across kernels.
  // Read for every transaction; plain stores: no dynamic exclusivity checks.
  @exclusivity(unchecked) public internal(set) var busMaster = true
  @exclusivity(unchecked) public internal(set) var device: Device?
  /// Whether the old kernel's `->shutdown()` stopped it.
  @exclusivity(unchecked) public internal(set) var quiescedByOldKernel = false
  /// DMA of this client over the whole run, and in the last stage (the verification).
  @exclusivity(unchecked) public internal(set) var stats = DMAStats()
  @exclusivity(unchecked) public internal(set) var finalStageStats = DMAStats()

  /// Its name, bus, identity and match table, the same in every kernel and on every power-on
  /// of the rig: made once per rig.
  let function: ClientFunction
  /// Its IOMMU's hardware model (nil on a machine without IOMMUs), which routes every
  /// transaction: held here, not looked up through the machine's IOMMU list per transaction.
  let hardware: (any IOMMUHardwareModel)?
  /// Whether its device exists before its IOMMU probes (see
  /// ``HandoverIOMMU/clientsEnumeratedFirst``): asked of the adapter once, not at every boot.
  let enumeratedEarly: Bool

  init(
    spec: ClientSpec, function: ClientFunction, iommuIndex: Int, hardware: (any IOMMUHardwareModel)?,
    enumeratedEarly: Bool
  ) {
    self.spec = spec
    self.function = function
    self.hardware = hardware
    self.enumeratedEarly = enumeratedEarly
    streamID = function.streamID
    self.iommuIndex = iommuIndex
    engine = DMAEngine(kind: spec.kind)
  }

  /// DMA can leave the function: bus mastering on in the hardware, and not cleared by the
  /// current kernel's `pci_clear_master()`.
  var canMaster: Bool { busMaster && (device?.busMasterEnabled ?? true) && engine.isRunning }

  /// The owner of the buffers the engine was programmed with (`deviceBuffer("new:nic0")`), as
  /// the machine's memory numbers it: set with the program, compared on every transaction.
  // Read for every transaction, never re-entered: no dynamic exclusivity checks.
  @exclusivity(unchecked) var bufferOwner: MemoryOwnerID?
}

/// A client function as firmware and enumeration present it to every kernel: its name, the
/// identity and stream ID of the `Device` each kernel makes for it, and the match table of its
/// driver. Nothing here changes with the kernel or the policy, so a rig keeps them from one
/// power-on to the next (the matrix runs hundreds of handovers on one).
final class ClientFunction {
  let kind: ClientKind
  /// Its place among the machine's clients, and the bus it sits on (its IOMMU's client bus).
  let index: Int
  let bus: BusType
  let name: String
  let streamID: UInt32
  let deviceName: String
  let identity: DeviceIdentity
  let streamIDs: [UInt32]
  let matchTable: [DeviceMatch]
  /// The numbers the rig's memory gave the owners of this function's buffers in each kernel
  /// (`deviceBuffer("old:nic0")`): looked up once per rig, not per probe.
  // Set once per kernel label, never re-entered: no dynamic exclusivity checks.
  @exclusivity(unchecked) private var bufferOwners: [(generation: String, id: MemoryOwnerID)] = []

  init(kind: ClientKind, index: Int, bus: BusType) {
    self.kind = kind
    self.index = index
    self.bus = bus
    let name = "\(kind.rawValue)\(index)"
    self.name = name
    let sid = UInt32(0x10 + 8 * index)
    streamID = sid
    streamIDs = [sid]
    switch bus {
    case .pci:
      let id = kind.pciID
      identity = .pci(PCIIdentity(vendor: id.vendor, device: id.device &+ UInt16(index), classCode: id.classCode))
      // The requester ID is the stream ID: `0000:bus:device.function`.
      deviceName = PCIAddress(requesterID: UInt16(truncatingIfNeeded: sid)).description
      matchTable = [.pci(vendor: id.vendor, device: id.device &+ UInt16(index))]
    case .platform:
      let compatible = "iommu-model,\(name)"
      identity = .platform(compatible: [compatible], acpiHID: nil)
      deviceName = "\(plainHex(0x1000_0000 + 0x1_0000 * UInt64(sid))).\(name)"
      matchTable = [.compatible(compatible)]
    }
    // Old, then new or crash.
    bufferOwners.reserveCapacity(3)
  }

  /// The owner of the buffers a driver in kernel `generation` gives this function
  /// (`deviceBuffer("new:nic0")`), as `memory` (the rig's) numbers it.
  func bufferOwner(_ generation: String, in memory: PhysicalMemory) -> MemoryOwnerID {
    for entry in bufferOwners where entry.generation == generation { return entry.id }
    let id = memory.ownerID(.deviceBuffer("\(generation):\(name)"))
    bufferOwners.append((generation, id))
    return id
  }
}
