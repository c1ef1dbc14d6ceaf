import DeviceCore
import Firmware
import IntelIOMMU
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// One Intel VT-d unit (QEMU q35's intel-iommu at 0xfed90000) on the handover machine, with the
/// driver's variants (`kernel`: the crash kernel copies the old tables and defers attach;
/// `reset-on-kdump`) and the kernel-list proposal (the driver's `kernel-list`: shutdown leaves
/// TE on, the next kernel switches to an empty root table with SRTP). The clients are PCI functions on bus 0 whose requester IDs are their
/// stream IDs.
///
/// VT-d is not a driver the device core binds: `intel_iommu_init()` runs from an initcall
/// before device drivers probe, and `intel_iommu_shutdown()` is the x86 platform's late
/// shutdown hook. The adapter stands the initcall in as the probe of a `dmar0` device that
/// the clients name as their IOMMU.
public final class IntelIOMMUAdapter: HandoverIOMMU {
  public static let registerBase: UInt64 = 0xfed9_0000
  public let name = "vtd"
  /// The driver's variants but `kernel-list`, which the matrix offers as the kernel-list policy.
  public var variants: [String] { Self.variantNames }
  public let clientBus = BusType.pci
  /// GCMD: translation enable and the root table pointer switch.
  public var controlRegisters: Set<Int> { Self.controlRegisterOffsets }
  // Made once, not per adapter: the matrix makes a fresh adapter for every handover.
  static let variantNames = IntelIOMMUVariant.allCases.filter { $0 != .kernelList }.map { $0.rawValue }
  static let controlRegisterOffsets: Set<Int> = [0x18]
  // The device's description, the same in every kernel: shared, not rebuilt per boot.
  static let identity = DeviceIdentity.platform(compatible: ["iommu-model,dmar"], acpiHID: nil)
  /// The driver's `kernel-list` variant, in both kernels: its probe makes the switch itself.
  public var kernelList: KernelListSupport? {
    .driverVariant(IntelIOMMUVariant.kernelList.rawValue)
  }

  /// The DMAR the last boot found, and what it was built from.
  private var lastDMAR: (rids: [UInt16], addressWidth: Int, table: DMARDescription)?

  public init() {}

  public func makeHardware(memory: PhysicalMemory) -> any IOMMUHardwareModel {
    let unit = IntelVTd(name: "dmar0", configuration: .qemuIntremap, memory: memory)
    // Nothing on the machine reads QEMU's trace events; formatting one per access costs more
    // than the access.
    unit.recordsEvents = false
    // The machine counts blocked transactions; it reads no reason.
    unit.describesBlockedRoutes = false
    return unit
  }

  public func install(
    _ hardware: any IOMMUHardwareModel, variant: String, in boot: KernelBoot
  ) throws(HandoverError) -> any IOMMUBinding {
    guard let unit = hardware as? IntelVTd else { throw HandoverError("not a VT-d unit") }
    guard let v = IntelIOMMUVariant(rawValue: variant) else {
      throw HandoverError("vtd has no variant '\(variant)'")
    }
    let rids = boot.clientStreamIDs.map { UInt16(truncatingIfNeeded: $0) }
    // Both kernels of a machine find the same table: built once.
    let firmware: DMARDescription
    if let last = lastDMAR, last.rids == rids, last.addressWidth == unit.configuration.addressWidth {
      firmware = last.table
    } else {
      firmware = Self.dmar(devices: rids, addressWidth: unit.configuration.addressWidth)
      lastDMAR = (rids, unit.configuration.addressWidth, firmware)
    }
    let driver = IntelIOMMUDriver(
      core: boot.core, firmware: firmware,
      registerBlocks: [Self.registerBase: boot.tap(unit.mmio)], pciDevices: rids, variant: v)
    let device = Device(
      name: "dmar0", bus: .platform, identity: Self.identity)
    boot.registerDevice(device)
    boot.registerDriver(DMARInitcall(driver))
    return IntelBinding(device: device, driver: driver, aperture: 1 << UInt64(unit.configuration.addressWidth))
  }

  public func recordedFaults(_ hardware: any IOMMUHardwareModel) -> Int {
    (hardware as? IntelVTd)?.faultLog.count ?? 0
  }

  /// QEMU's DMAR for q35 (build_dmar_q35()): one DRHD without INCLUDE_PCI_ALL whose scope is
  /// the IOAPIC and one endpoint per PCI function, INTR_REMAP set.
  static func dmar(devices: [UInt16], addressWidth: Int) -> DMARDescription {
    var scopes: [DMARScope] = []
    scopes.reserveCapacity(1 + devices.count)
    scopes.append(DMARScope(kind: .ioapic, enumerationID: 0, bus: 0xff, path: [(0, 0)]))
    for rid in devices {
      scopes.append(DMARScope(kind: .endpoint, bus: UInt8(rid >> 8), path: [(UInt8(rid >> 3 & 0x1f), UInt8(rid & 7))]))
    }
    return DMARDescription(
      hostAddressWidthField: UInt8(addressWidth - 1), flags: 1,
      entries: [.drhd(DRHDDescription(address: registerBase, flags: 0, scopes: scopes))])
  }
}

/// The x86 boot steps that reach the VT-d driver (early parameters, detection, which installs
/// the shutdown hook, interrupt remapping, `intel_iommu_init()`), run as a probe so the machine
/// sees their result and clients wait for them.
final class DMARInitcall: DeviceDriver {
  let driver: IntelIOMMUDriver
  let name = "DMAR"
  let bus = BusType.platform
  let matchTable: [DeviceMatch] = [.compatible("iommu-model,dmar")]

  init(_ driver: IntelIOMMUDriver) { self.driver = driver }

  func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    let outcome = driver.run(X86BootStep.boot)
    if outcome.fatal != nil { throw .EIO }
    if let e = outcome.initResult { throw e }
  }
}

/// Attach is the default domain's `domain_context_mapping_one()`: in a kdump kernel the first
/// DMA API use of a device replaces its copied context entry (`iommu_deferred_attach()`).
final class IntelBinding: IOMMUBinding {
  let device: Device
  let driver: IntelIOMMUDriver
  let aperture: UInt64
  /// `iommu_def_domain_type`, set once at boot from the command line and config
  /// (`iommu_subsys_init()`): reading it per attach copied the kernel's whole context.
  let defaultDomainType: DefaultDomainType

  init(device: Device, driver: IntelIOMMUDriver, aperture: UInt64) {
    self.device = device
    self.driver = driver
    self.aperture = aperture
    defaultDomainType = driver.kernel.context.defaultDomainType
  }

  func attach(_ client: Device, streamID: UInt32) throws(Errno) -> any DMAMapping {
    let rid = UInt16(truncatingIfNeeded: streamID)
    guard driver.enabled, driver.iommu(for: rid) != nil else { return DirectMapping() }
    do throws(DMARError) { try driver.deferredAttach(rid) } catch { throw error.errno }
    if defaultDomainType == .identity { return DirectMapping() }
    let driver = driver
    return DriverDomain(aperture: aperture) { iova, physical, size throws(Errno) in
      do throws(DMARError) {
        try driver.mapPages(rid: rid, iova: iova, phys: physical, size: size)
      } catch { throw error.errno }
    }
  }
}

extension DMARError {
  /// The errno a caller sees (a panic or a hang stops the kernel: -EIO stands for it here).
  var errno: Errno {
    switch self {
    case .errno(let e): e
    case .fatal: .EIO
    }
  }
}
