import Kernel
import SimulatedHardware

/// One IOMMU of a machine: its adapter, its silicon (which outlives every kernel), the policy
/// variant chosen, and the current kernel's binding to it.
public final class MachineIOMMU {
  public let adapter: any HandoverIOMMU
  public let hardware: any IOMMUHardwareModel
  /// A driver variant, or ``Machine/kernelListPolicy``.
  public let variant: String
  @exclusivity(unchecked) public internal(set) var binding: (any IOMMUBinding)?
  /// The IOMMU's probe result in each kernel, in boot order (0 or an errno).
  // Appended once per boot, read by the outcome: no dynamic exclusivity checks.
  @exclusivity(unchecked) public internal(set) var initResults: [Errno?] = []
  /// The adapter's control registers, sorted, and the stream IDs of the clients behind this
  /// IOMMU: the same for every kernel, made once.
  let wiring: IOMMUWiring
  var controlRegisters: [Int] { wiring.controlRegisters }
  var clientStreamIDs: [UInt32] { wiring.clientStreamIDs }

  init(adapter: any HandoverIOMMU, variant: String, hardware: any IOMMUHardwareModel, wiring: IOMMUWiring) {
    self.adapter = adapter
    self.variant = variant
    self.hardware = hardware
    self.wiring = wiring
    // One result per kernel: the old one and the next.
    initResults.reserveCapacity(2)
  }
}

/// What a machine derives from one IOMMU's adapter and the clients behind it: the adapter's
/// control registers, sorted, and the clients' stream IDs. A rig keeps them with the hardware.
struct IOMMUWiring {
  let controlRegisters: [Int]
  let clientStreamIDs: [UInt32]
}
