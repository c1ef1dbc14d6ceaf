import DeviceCore
import Kernel
import MMIO

// Mirrors drivers/iommu/riscv/iommu-platform.c (Linux 7.2): the RISC-V IOMMU as a platform
// device (device tree "riscv,iommu", ACPI RSCV0004). No platform-MSI domain is modelled, so an
// MSI-capable IOMMU falls back to wired interrupts when IGS allows it.

/// `riscv_iommu_platform_driver`.
public final class RISCVIOMMUPlatformDriver: DeviceDriver {
  public let name = "riscv,iommu"
  public let bus = BusType.platform
  /// `riscv_iommu_of_match` then `riscv_iommu_acpi_match`.
  public let matchTable: [DeviceMatch] = [.compatible("riscv,iommu"), .acpi("RSCV0004")]
  /// `kernel-list` hands the IOMMU over as it runs: no `.shutdown`.
  public var hasShutdown: Bool { policy != .kernelList }
  public let policy: RISCVIOMMUPolicy

  public init(policy: RISCVIOMMUPolicy = .kernel) { self.policy = policy }

  /// Mirrors riscv_iommu_platform_probe(), drivers/iommu/riscv/iommu-platform.c (Linux 7.2).
  public func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    try prepare(device).initialize()
  }

  /// The part of riscv_iommu_platform_probe(), drivers/iommu/riscv/iommu-platform.c (Linux 7.2),
  /// before its tail call to riscv_iommu_init().
  public func prepare(_ device: Device) throws(Errno) -> RISCVIOMMUDevice {
    let reg: IOMem
    do { reg = try device.ioremap(0) } catch { throw device.errProbe(error, "could not map register region") }
    let iommu = RISCVIOMMUDevice(dev: device, reg: reg, policy: policy)
    device.driverData = iommu

    iommu.caps = RISCVIOMMUCapabilities(raw: try iommu.readq(RISCVIOMMUCapabilities.offset))
    iommu.fctl = try iommu.readl(RISCVIOMMUFCTL.offset)

    iommu.irqsCount = device.irqCount
    if iommu.irqsCount <= 0 { throw device.errProbe(.ENODEV, "no IRQ resources provided") }
    iommu.irqsCount = min(iommu.irqsCount, RISCV_IOMMU_INTR_COUNT)

    let igs = iommu.caps.igs
    switch igs {
    case .known(.msi), .known(.both):
      // of_msi_configure() / the IMSIC ACPI domain: none in the model.
      device.warn("failed to find an MSI domain")
      if igs != .known(.both) {
        throw device.errProbe(.ENODEV, "unable to use wire-signaled interrupts")
      }
      try useWiredInterrupts(iommu)
    case .known(.wsi):
      try useWiredInterrupts(iommu)
    default:
      throw device.errProbe(.ENODEV, "invalid IGS")
    }
    return iommu
  }

  private func useWiredInterrupts(_ iommu: RISCVIOMMUDevice) throws(Errno) {
    for vec in 0..<iommu.irqsCount { iommu.irqs[vec] = UInt32(16 + vec) }
    // Enable wire-signaled interrupts: set FCTL.WSI.
    if iommu.fctl & RISCVIOMMUFCTL.WSI == 0 {
      iommu.fctl |= RISCVIOMMUFCTL.WSI
      try iommu.writel(RISCVIOMMUFCTL.offset, iommu.fctl)
    }
    iommu.dev.info("using wire-signaled interrupts")
  }

  /// Mirrors riscv_iommu_platform_remove(), drivers/iommu/riscv/iommu-platform.c (Linux 7.2).
  public func remove(_ device: Device) {
    (device.driverData as? RISCVIOMMUDevice)?.remove()
  }

  /// Mirrors riscv_iommu_platform_shutdown(), drivers/iommu/riscv/iommu-platform.c (Linux 7.2).
  public func shutdown(_ device: Device) {
    try? (device.driverData as? RISCVIOMMUDevice)?.disable()
  }
}
