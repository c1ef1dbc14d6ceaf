import DeviceCore
import Kernel
import MMIO
import PCI

// Mirrors drivers/iommu/riscv/iommu-pci.c (Linux 7.2): the RISC-V IOMMU as a PCIe function.

/// `PCI_DEVICE_ID_REDHAT_RISCV_IOMMU` (QEMU) and `PCI_DEVICE_ID_RIVOS_RISCV_IOMMU_GA`.
public let PCI_VENDOR_ID_REDHAT: UInt16 = 0x1b36
public let PCI_DEVICE_ID_REDHAT_RISCV_IOMMU: UInt16 = 0x0014
public let PCI_VENDOR_ID_RIVOS: UInt16 = 0x1efd
public let PCI_DEVICE_ID_RIVOS_RISCV_IOMMU_GA: UInt16 = 0x0008

/// `riscv_iommu_pci_driver`. Binds by vendor and device ID only (no class match), as Linux does.
public final class RISCVIOMMUPCIDriver: DeviceDriver {
  /// KBUILD_MODNAME of iommu-pci.c: the console shows `iommu_pci 0000:00:01.0: ...`.
  public let name = "iommu_pci"
  public let bus = BusType.pci
  /// `riscv_iommu_pci_tbl`.
  public let matchTable: [DeviceMatch] = [
    .pci(vendor: PCI_VENDOR_ID_REDHAT, device: PCI_DEVICE_ID_REDHAT_RISCV_IOMMU),
    .pci(vendor: PCI_VENDOR_ID_RIVOS, device: PCI_DEVICE_ID_RIVOS_RISCV_IOMMU_GA),
  ]
  /// `kernel-list` hands the IOMMU over as it runs: no `.shutdown`.
  public var hasShutdown: Bool { policy != .kernelList }
  public let policy: RISCVIOMMUPolicy

  public init(policy: RISCVIOMMUPolicy = .kernel) { self.policy = policy }

  /// Mirrors riscv_iommu_pci_probe(), drivers/iommu/riscv/iommu-pci.c (Linux 7.2).
  public func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    try prepare(device).initialize()
  }

  /// The part of riscv_iommu_pci_probe(), drivers/iommu/riscv/iommu-pci.c (Linux 7.2), before
  /// its tail call to riscv_iommu_init(): enable, map BAR0, read CAPABILITIES and FCTL, check
  /// IGS, allocate vectors, clear FCTL.WSI. `iommu-model check` stops here to run init_check.
  public func prepare(_ device: Device) throws(Errno) -> RISCVIOMMUDevice {
    guard let config = device.configSpace else { throw .ENODEV }
    try pcimEnableDevice(device, config)
    // BAR0 must be memory and hold the whole register window.
    guard let bar0 = try? config.read(UInt32.self, at: PCIConfig.bar0), bar0 & 1 == 0,
      let resource = device.resources.first, resource.size >= RISCV_IOMMU_REG_SIZE
    else { throw .ENODEV }
    let reg = try device.ioremap(0)
    let iommu = RISCVIOMMUDevice(dev: device, reg: reg, policy: policy)
    setMaster(config)
    device.driverData = iommu

    iommu.caps = RISCVIOMMUCapabilities(raw: try iommu.readq(RISCVIOMMUCapabilities.offset))
    iommu.fctl = try iommu.readl(RISCVIOMMUFCTL.offset)

    // The PCI driver only uses MSIs.
    switch iommu.caps.igs {
    case .known(.msi), .known(.both): break
    default: throw device.errProbe(.ENODEV, "unable to use message-signaled interrupts")
    }
    let vectors = min(msiVectors(config), RISCV_IOMMU_INTR_COUNT)
    if vectors <= 0 { throw device.errProbe(.ENODEV, "unable to allocate irq vectors") }
    iommu.irqsCount = vectors
    for vec in 0..<vectors { iommu.irqs[vec] = UInt32(32 + vec) }

    // Enable message-signaled interrupts: clear FCTL.WSI.
    if iommu.fctl & RISCVIOMMUFCTL.WSI != 0 {
      iommu.fctl ^= RISCVIOMMUFCTL.WSI
      try iommu.writel(RISCVIOMMUFCTL.offset, iommu.fctl)
    }
    return iommu
  }

  /// Mirrors riscv_iommu_pci_remove(), drivers/iommu/riscv/iommu-pci.c (Linux 7.2).
  public func remove(_ device: Device) {
    (device.driverData as? RISCVIOMMUDevice)?.remove()
  }

  /// Mirrors riscv_iommu_pci_shutdown(), drivers/iommu/riscv/iommu-pci.c (Linux 7.2).
  public func shutdown(_ device: Device) {
    try? (device.driverData as? RISCVIOMMUDevice)?.disable()
  }

  /// `pcim_enable_device()`: turns on memory decoding, logging the Command change as
  /// pci_enable_resources() does.
  private func pcimEnableDevice(_ device: Device, _ config: any WritableRegisterIO) throws(Errno) {
    guard let old = try? config.read(UInt16.self, at: PCIConfig.command) else { throw .EIO }
    let new = old | PCIConfig.commandMemory
    if new != old {
      device.info("enabling device (\(hex4(old)) -> \(hex4(new)))")
      try? config.write(new, at: PCIConfig.command)
    }
  }

  /// `pci_set_master()`.
  private func setMaster(_ config: any WritableRegisterIO) {
    if let cmd = try? config.read(UInt16.self, at: PCIConfig.command) {
      try? config.write(cmd | PCIConfig.commandMaster, at: PCIConfig.command)
    }
  }

  /// `pci_alloc_irq_vectors(pdev, 1, RISCV_IOMMU_INTR_COUNT, PCI_IRQ_MSIX | PCI_IRQ_MSI)`: the
  /// MSI-X table size, else the MSI multiple-message capability, else none.
  private func msiVectors(_ config: any WritableRegisterIO) -> Int {
    var msi = 0
    var pointer = Int((try? config.read(UInt8.self, at: PCIConfig.capabilitiesPointer)) ?? 0) & ~3
    var guardCount = 0
    while pointer >= 0x40, guardCount < 48 {
      guardCount += 1
      guard let id = try? config.read(UInt8.self, at: pointer),
        let next = try? config.read(UInt8.self, at: pointer + 1)
      else { break }
      if id == 0x11, let control = try? config.read(UInt16.self, at: pointer + 2) {
        return Int(control & 0x7ff) + 1
      }
      if id == 0x05, let control = try? config.read(UInt16.self, at: pointer + 2) {
        msi = 1 << Int((control >> 1) & 0x7)
      }
      pointer = Int(next) & ~3
    }
    return msi
  }

  private func hex4(_ v: UInt16) -> String { plainHex(v, digits: 4) }
}
