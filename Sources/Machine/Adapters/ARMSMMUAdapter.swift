import ARMSMMU
import DeviceCore
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// An Arm MMU-500 (SMMUv2) on the handover machine, with the driver's shutdown variants
/// (`kernel`: sCR0 = CLIENTPD, global bypass; `abort-on-shutdown`: every stream faults; `abort`:
/// the same, and the next kernel's probe opens no bypass window) and the
/// kernel-list policy through the driver's `kernel-list` variant. Its clients are platform
/// masters, which no Bus Master Enable stops during a kexec.
public final class ARMSMMUAdapter: HandoverIOMMU {
  public let name = "smmuv2"
  /// The driver's variants but `kernel-list`, which the matrix adds as the policy.
  public var variants: [String] { Self.variantNames }
  public let clientBus = BusType.platform
  /// sCR0 decides between global bypass (CLIENTPD), unmatched-stream policy and translation.
  public var controlRegisters: Set<Int> { Self.controlRegisterOffsets }
  // Made once, not per adapter: the matrix makes a fresh adapter for every handover.
  static let variantNames = ARMSMMUVariant.allCases.filter { $0 != .kernelList }.map { $0.rawValue }
  static let controlRegisterOffsets: Set<Int> = [0x000]
  // The device's firmware description, the same in every kernel: shared, not rebuilt per boot.
  static let identity = DeviceIdentity.platform(compatible: ["arm,mmu-500"], acpiHID: nil)
  static let properties: [String: FirmwareProperty] = ["#global-interrupts": [1]]
  /// The driver's `kernel-list` variant in both kernels: its shutdown keeps the client port
  /// enabled with every stream faulting, and its probe makes the switch itself (USFCFG, then
  /// every S2CR FAULT, before the RMR step).
  public var kernelList: KernelListSupport? {
    .driverVariant(ARMSMMUVariant.kernelList.rawValue)
  }

  public init() {}

  public func makeHardware(memory: PhysicalMemory) -> any IOMMUHardwareModel {
    let smmu = ARMSMMUv2(configuration: .mmu500, memory: memory)
    // The machine counts faults and blocked transactions; it reads no sentence.
    smmu.describesBlockedRoutes = false
    return smmu
  }

  public func install(
    _ hardware: any IOMMUHardwareModel, variant: String, in boot: KernelBoot
  ) throws(HandoverError) -> any IOMMUBinding {
    guard let hw = hardware as? ARMSMMUv2 else { throw HandoverError("not an SMMUv2") }
    guard let v = ARMSMMUVariant(rawValue: variant) else {
      throw HandoverError("smmuv2 has no variant '\(variant)'")
    }
    let device = Device(
      name: "2b500000.iommu", bus: .platform,
      identity: Self.identity,
      resources: [DeviceResource(name: "smmu", base: 0x2b50_0000, io: boot.tap(hw.registers))],
      irqCount: 9)
    device.properties = Self.properties
    let driver = ARMSMMUDriver(variant: v)
    boot.registerDevice(device)
    boot.registerDriver(driver)
    return ARMSMMUBinding(device: device, driver: driver, kernel: boot.kernel)
  }

  public func recordedFaults(_ hardware: any IOMMUHardwareModel) -> Int {
    (hardware as? ARMSMMUv2)?.faultCount ?? 0
  }
}

/// `arm_smmu_probe_device()` then the default domain: identity (S2CR BYPASS) or a paging domain
/// with its own context bank and LPAE table.
final class ARMSMMUBinding: IOMMUBinding {
  let device: Device
  let driver: ARMSMMUDriver
  let kernel: Kernel
  /// `iommu_def_domain_type`, set once at boot from the command line and config
  /// (`iommu_subsys_init()`): reading it per attach copied the kernel's whole context.
  let defaultDomainType: DefaultDomainType

  init(device: Device, driver: ARMSMMUDriver, kernel: Kernel) {
    self.device = device
    self.driver = driver
    self.kernel = kernel
    defaultDomainType = kernel.context.defaultDomainType
  }

  func attach(_ client: Device, streamID: UInt32) throws(Errno) -> any DMAMapping {
    try driver.probeDevice(client)
    if defaultDomainType == .identity {
      try driver.attachIdentity(client)
      return DirectMapping()
    }
    let domain = try driver.attachPaging(client)
    let table = domain.pageTable
    return DriverDomain(aperture: 1 << UInt64(table.ias)) { iova, physical, size throws(Errno) in
      try table.map(iova: iova, paddr: physical, size: size)
    }
  }
}
