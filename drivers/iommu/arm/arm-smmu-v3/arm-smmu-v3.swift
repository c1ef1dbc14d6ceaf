import DeviceCore
import Firmware
import Kernel
import MMIO

/// The arm-smmu-v3 platform driver (`arm_smmu_driver`): binds "arm,smmu-v3" devices, probes,
/// resets and registers them, and clears CR0 at shutdown and remove.
public final class ARMSMMUv3Driver: DeviceDriver {
  public let name = "arm-smmu-v3"
  public let bus = BusType.platform
  /// `arm_smmu_of_match`, then the driver's name for the devices IORT creates.
  public let matchTable: [DeviceMatch] = [.compatible("arm,smmu-v3"), .name("arm-smmu-v3")]
  public let variant: ARMSMMUv3Variant
  /// iommu group ids handed out so far in this kernel.
  private var groups = 0

  public init(variant: ARMSMMUv3Variant = .kernel) {
    self.variant = variant
  }

  /// The SMMU state of a bound device (`platform_get_drvdata`).
  public static func smmu(of device: Device) -> ARMSMMUv3Device? {
    device.driverData as? ARMSMMUv3Device
  }

  public func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    try deviceProbe(device)
  }

  /// Mirrors arm_smmu_device_probe(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// firmware description, MMIO (at least 128 KiB, or 64 KiB with page-0-only registers),
  /// interrupts, hw probe, structures, reset, then sysfs and iommu_device_register(). A failed
  /// reset disables the SMMU again (unless the kernel-list variant could not make GBPA abort).
  func deviceProbe(_ device: Device) throws(Errno) {
    guard let resource = device.resources.first else { throw .EINVAL }
    let base = try device.ioremap(0)
    let smmu = ARMSMMUv3Device(dev: device, base: base, variant: variant)
    if let node = device.platformData as? IORTNode {
      try acpiProbe(smmu, node: node)
    } else {
      try dtProbe(smmu)
    }

    let needed = smmu.options.contains(.page0RegsOnly) ? 0x10000 : 0x20000
    if resource.size < needed {
      let end = resource.base + UInt64(resource.size) - 1
      device.err("MMIO region too small ([mem \(hex(resource.base, digits: 8))-\(hex(end, digits: 8))])")
      throw .EINVAL
    }
    if resource.size <= 0x10000 { smmu.page1 = 0 }

    let names = device.propertyStrings("interrupt-names") ?? []
    if names.contains("combined") {
      smmu.combinedIRQ = true
    } else {
      smmu.evtqIRQ = names.contains("eventq")
      smmu.priqIRQ = names.contains("priq")
      smmu.gerrIRQ = names.contains("gerror")
    }

    try smmu.hwProbe()
    try smmu.initStructures()
    device.driverData = smmu
    do {
      try smmu.deviceReset()
    } catch {
      if !smmu.mustStayEnabled { try? smmu.deviceDisable() }
      device.driverData = nil
      throw error
    }
    smmu.sysfsName = "smmu3.\(hex(resource.base, digits: 16))"
    smmu.iommuDeviceRegister(groupBase: &groups)
  }

  /// Mirrors arm_smmu_device_dt_probe() and parse_driver_options(),
  /// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  private func dtProbe(_ smmu: ARMSMMUv3Device) throws(Errno) {
    let dev = smmu.dev
    var error: Errno? = .EINVAL
    if let cells = dev.propertyU32("#iommu-cells") {
      if cells == 1 {
        error = nil
      } else {
        dev.err("invalid #iommu-cells value (\(cells))")
      }
    } else {
      dev.err("missing #iommu-cells property")
    }
    for (option, property) in [
      (ARMSMMUv3Options.skipPrefetch, "hisilicon,broken-prefetch-cmd"),
      (.page0RegsOnly, "cavium,cn9900-broken-page1-regspace"),
    ] where dev.propertyPresent(property) {
      smmu.options.insert(option)
      dev.notice("option \(property)")
    }
    if dev.propertyPresent("dma-coherent") { smmu.features.insert(.coherency) }
    if let error { throw error }
  }

  public var hasShutdown: Bool { true }

  /// Mirrors arm_smmu_device_shutdown(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// CR0 := 0 only, leaving traffic to GBPA. The abort-handover variant sets GBPA.ABORT first;
  /// the kernel-list variant blocks every master and leaves SMMUEN set.
  public func shutdown(_ device: Device) {
    guard let smmu = Self.smmu(of: device) else { return }
    if variant == .kernelList {
      smmu.kernelListShutdown()
      return
    }
    if variant == .abortHandover { try? smmu.updateGBPA(set: GBPA.ABORT, clear: 0) }
    try? smmu.deviceDisable()
  }

  /// Mirrors arm_smmu_device_remove(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// unregister, then CR0 := 0.
  public func remove(_ device: Device) {
    guard let smmu = Self.smmu(of: device) else { return }
    smmu.sysfsName = nil
    try? smmu.deviceDisable()
  }
}
