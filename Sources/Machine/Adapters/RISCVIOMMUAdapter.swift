import DeviceCore
import Kernel
import MMIO
import Memory
import RISCVIOMMU
import SimulatedHardware

/// The RISC-V IOMMU (riscv-iommu-pci, QEMU's 1b36:0014) on the handover machine, with the
/// driver's policies (`kernel`, `blocking-handover`, `refuse`) and the kernel-list proposal (the
/// driver's `kernel-list`: shutdown leaves DDTP as it is, the next kernel blocks with DDTP :=
/// OFF and installs a zeroed directory). Clients are PCI functions whose
/// device IDs are their stream IDs.
public final class RISCVIOMMUAdapter: HandoverIOMMU {
  public let name = "riscv"
  /// The driver's policies but `kernel-list`, which the matrix offers as the kernel-list policy.
  public var variants: [String] { Self.variantNames }
  public let clientBus = BusType.pci
  /// DDTP is the only register whose writes change routing (OFF, BARE, a directory).
  public var controlRegisters: Set<Int> { Self.controlRegisterOffsets }
  // Made once, not per adapter: the matrix makes a fresh adapter for every handover.
  static let variantNames = RISCVIOMMUPolicy.allCases.filter { $0 != .kernelList }.map { $0.rawValue }
  static let controlRegisterOffsets: Set<Int> = [RISCVIOMMUSpec.ddtp]
  /// The driver's `kernel-list` policy, in both kernels: its init_check makes the switch itself.
  public var kernelList: KernelListSupport? {
    .driverVariant(RISCVIOMMUPolicy.kernelList.rawValue)
  }

  public init() {}

  public func makeHardware(memory: PhysicalMemory) -> any IOMMUHardwareModel {
    let iommu = RISCVIOMMUHardware(memory: memory)
    // The machine counts blocked transactions; it reads no reason.
    iommu.describesBlockedRoutes = false
    return iommu
  }

  public func install(
    _ hardware: any IOMMUHardwareModel, variant: String, in boot: KernelBoot
  ) throws(HandoverError) -> any IOMMUBinding {
    guard let hw = hardware as? RISCVIOMMUHardware else { throw HandoverError("not a RISC-V IOMMU") }
    guard let policy = RISCVIOMMUPolicy(rawValue: variant) else {
      throw HandoverError("riscv has no variant '\(variant)'")
    }
    let device = Device(
      name: "0000:00:01.0", bus: .pci,
      identity: .pci(
        PCIIdentity(
          vendor: RISCVIOMMUPCIFunction.vendorID, device: RISCVIOMMUPCIFunction.deviceID,
          classCode: RISCVIOMMUPCIFunction.classCode)),
      resources: [
        DeviceResource(name: "BAR0", base: RISCVIOMMUPCIFunction.referenceBARAddress, io: boot.tap(hw.registers))
      ],
      configSpace: Self.freshConfigSpace(hw))
    // The IOMMU's interrupts reach the driver of the kernel now running.
    hw.interruptSink = { [weak device] vector in
      (device?.driverData as? RISCVIOMMUDevice)?.handleInterrupt(vector: vector)
    }
    boot.registerDevice(device)
    boot.registerDriver(RISCVIOMMUPCIDriver(policy: policy))
    return RISCVBinding(device: device, boot: boot)
  }

  /// The function's configuration space at its reset values, as each kernel has found it so far
  /// (the hardware's own, reset, rather than a new one built per kernel).
  static func freshConfigSpace(_ hw: RISCVIOMMUHardware) -> SimulatedRegisterFile {
    let config = hw.pciConfigSpace
    config.reset()
    return config
  }

  public func recordedFaults(_ hardware: any IOMMUHardwareModel) -> Int {
    (hardware as? RISCVIOMMUHardware)?.faults.count ?? 0
  }
}

/// Attach: the driver's identity attach creates and validates the device context (IODIR
/// invalidation included); for a DMA default domain the context then gets an Sv39 first-stage
/// table (FSC) and the caches are invalidated.
final class RISCVBinding: IOMMUBinding {
  let device: Device
  let memory: PhysicalMemory
  let allocator: DMAAllocator
  let kernel: Kernel
  /// `iommu_def_domain_type`, set once at boot from the command line and config
  /// (`iommu_subsys_init()`): reading it per attach copied the kernel's whole context.
  let defaultDomainType: DefaultDomainType

  init(device: Device, boot: KernelBoot) {
    self.device = device
    memory = boot.memory
    allocator = boot.allocator
    kernel = boot.kernel
    defaultDomainType = boot.kernel.context.defaultDomainType
  }

  /// Sv39: V b0, R b1, W b2, A b6, D b7, PPN from b10.
  static let sv39 = RadixFormat(
    levels: 3, table: { ($0 >> 12) << 10 | 1 }, leaf: { ($0 >> 12) << 10 | 0xC7 },
    isValid: { $0 & 1 != 0 }, next: { (($0 >> 10) & ((1 << 44) - 1)) << 12 })

  func attach(_ client: Device, streamID: UInt32) throws(Errno) -> any DMAMapping {
    guard let iommu = device.driverData as? RISCVIOMMUDevice else { throw .ENODEV }
    // riscv_iommu_probe_device() refuses devices while the IOMMU is OFF or BARE: the device
    // then does direct DMA.
    guard iommu.ddtMode > .bare else { return DirectMapping() }
    try iommu.attach(client, to: .identity)
    guard defaultDomainType != .identity else { return DirectMapping() }
    let domain = try RadixDomain(memory: memory, allocator: allocator, format: Self.sv39, aperture: 1 << 38)
    guard let dc = iommu.getDC(streamID) else { throw .ENODEV }
    do {
      try memory.write64(8 << 60 | domain.root >> 12, at: dc + RISCVIOMMUDC.fsc)
    } catch { throw .EFAULT }
    domain.afterMap = { () throws(Errno) in try iommu.invalidateAll() }
    try iommu.invalidateAll()
    return domain
  }
}
