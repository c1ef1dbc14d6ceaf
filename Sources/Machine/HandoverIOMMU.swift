import DeviceCore
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// What the machine needs from one IOMMU to run handovers on it: one small adapter per driver.
///
/// The adapter makes the hardware model once per machine (it survives kexec and kdump: nothing
/// resets the silicon), and for every kernel that boots it registers the IOMMU's device(s) and
/// the driver configured for a policy variant, plus any late shutdown hook. Clients are attached
/// through the ``IOMMUBinding`` it returns.
public protocol HandoverIOMMU: AnyObject {
  /// The name on the command line and in reports (`smmuv2`, `smmuv3`, `vtd`, `riscv`).
  var name: String { get }
  /// The driver's policy variants, `kernel` (what Linux 7.2 does) first.
  var variants: [String] { get }
  /// The bus the clients behind this IOMMU sit on (PCI behind VT-d; platform masters behind an
  /// SMMUv2 on most SoCs). PCI clients have Bus Master Enable cleared by `pci_device_shutdown()`
  /// during a kexec.
  var clientBus: BusType { get }
  /// Offsets of the registers whose writes change how the IOMMU routes DMA (sCR0, CR0 and GBPA,
  /// GCMD, DDTP...). The machine samples DMA after each such write; empty means after every
  /// write.
  var controlRegisters: Set<Int> { get }
  /// The kernel-list proposal, when this IOMMU can do it.
  var kernelList: KernelListSupport? { get }

  /// Builds the hardware model on `memory` (its table walks read that memory).
  func makeHardware(memory: PhysicalMemory) -> any IOMMUHardwareModel

  /// Registers the IOMMU's device(s) with `boot.core`, and its driver for `variant` (or the
  /// variant ``KernelListSupport`` names), plus late shutdown hooks. Called once per kernel.
  func install(
    _ hardware: any IOMMUHardwareModel, variant: String, in boot: KernelBoot
  ) throws(HandoverError) -> any IOMMUBinding

  /// Whether the clients' devices must exist before the IOMMU probes: drivers whose
  /// `iommu_device_register()` probes and attaches the devices already present, and offer no
  /// entry point for one added later. The clients' drivers still bind after the IOMMU.
  var clientsEnumeratedFirst: Bool { get }

  /// Faults the hardware has recorded since power-on (fault queue records, event queue entries,
  /// fault status registers), as software could count them.
  func recordedFaults(_ hardware: any IOMMUHardwareModel) -> Int
}

extension HandoverIOMMU {
  public var clientsEnumeratedFirst: Bool { false }
}

/// One kernel's view of an IOMMU after ``HandoverIOMMU/install(_:variant:in:)``.
public protocol IOMMUBinding: AnyObject {
  /// The device clients name as their IOMMU (`iommus = <&smmu ...>`, a DMAR device scope).
  var device: Device { get }
  /// `iommu_probe_device()` + the default domain's attach for `client` (which emits
  /// `streamID`): called from the client's probe when the IOMMU is bound. Throws when the
  /// IOMMU refuses the device.
  func attach(_ client: Device, streamID: UInt32) throws(Errno) -> any DMAMapping
}

/// `dma_map_single()` in one domain: maps a physical range, returns the address the device must use.
public protocol DMAMapping: AnyObject {
  func map(physical: UInt64, size: UInt64, dmaMask: UInt64) throws(Errno) -> UInt64
}

/// Direct DMA (no IOMMU, or an identity domain): the device uses physical addresses.
public final class DirectMapping: DMAMapping {
  public init() {}
  public func map(physical: UInt64, size: UInt64, dmaMask: UInt64) throws(Errno) -> UInt64 {
    guard physical + size - 1 <= dmaMask else { throw .EIO }
    return physical
  }
}

/// The kernel-list proposal for one IOMMU: the next kernel keeps the IOMMU's configuration but
/// switches atomically to tables that abort every device, and lets only devices the old kernel
/// quiesced attach again.
public struct KernelListSupport {
  /// The driver variant the old kernel shuts down with: one that leaves translation on.
  public var shutdownVariant: String
  /// The driver variant the next kernel probes with: one that keeps translation on.
  public var bootVariant: String
  /// Installs all-abort tables while translation stays on, in one step (a root pointer or a
  /// table base written once), with tables from `allocator` (the next kernel's memory). Runs
  /// before the next kernel's IOMMU driver probes. Nil when the boot variant's driver makes
  /// the switch itself, in its probe, as a real driver would.
  public var switchToBlocking:
    (
      (_ hardware: any IOMMUHardwareModel, _ memory: PhysicalMemory, _ allocator: DMAAllocator) throws(Errno)
        -> Void
    )?

  public init(
    shutdownVariant: String, bootVariant: String,
    switchToBlocking:
      ((any IOMMUHardwareModel, PhysicalMemory, DMAAllocator) throws(Errno) -> Void)? = nil
  ) {
    self.shutdownVariant = shutdownVariant
    self.bootVariant = bootVariant
    self.switchToBlocking = switchToBlocking
  }

  /// A driver that implements the proposal as its variant `name`, in both kernels: its shutdown
  /// leaves translation on and its probe makes the switch itself.
  public static func driverVariant(_ name: String) -> KernelListSupport {
    KernelListSupport(shutdownVariant: name, bootVariant: name)
  }
}

/// A kernel that is booting, as an adapter sees it.
// Methods over the machine, not closures stored per boot: a boot of each IOMMU then allocates
// no closure contexts (nor a captured list) only to be freed again at the next handover.
public struct KernelBoot {
  public let kernel: Kernel
  public let core: DriverCore
  public let memory: PhysicalMemory
  /// This kernel's `dma_alloc_coherent()` pool.
  public let allocator: DMAAllocator
  let machine: Machine
  let iommu: MachineIOMMU
  let iommuIndex: Int

  /// Wraps a hardware register block so the machine sees every write (to sample DMA) and
  /// counts them for the timeline. Adapters give devices `tap(hardware.registers)` (or the
  /// hardware's own access path) as their io.
  public func tap(_ registers: any WritableRegisterIO) -> any WritableRegisterIO {
    RegisterTap(
      registers, names: iommu.hardware.registers, controlRegisters: iommu.controlRegisters,
      machine: machine, iommu: iommu)
  }

  /// The stream (requester) IDs of the clients behind this IOMMU, as firmware and PCI
  /// enumeration know them before any driver probes.
  public var clientStreamIDs: [UInt32] { iommu.clientStreamIDs }

  /// `device_add()` for the IOMMU: adapters register through this, not through `core`
  /// directly, so the machine can model a driver loaded after its clients.
  public func registerDevice(_ device: Device) {
    machine.registerIOMMUDevice(device, iommuIndex: iommuIndex, in: core)
  }

  /// `driver_register()` for the IOMMU's driver (late, like its device, for a late module).
  public func registerDriver(_ driver: any DeviceDriver) {
    let core = core
    if machine.options.iommuDriverLoadedLate {
      machine.lateRegistrations.append { core.register(driver) }
    } else {
      core.register(driver)
    }
  }
}

/// Why a handover could not be set up (not an outcome: a bug in an adapter or a bad request).
public struct HandoverError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
