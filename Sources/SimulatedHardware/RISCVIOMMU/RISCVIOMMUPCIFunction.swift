import MMIO
import PCI

/// The PCI wrapper of QEMU 10's riscv-iommu-pci (hw/riscv/riscv-iommu-pci.c): Red Hat 1b36:0014,
/// revision 1, class 0x0806 (system peripheral / IOMMU), a 64-bit 4 KiB BAR0 holding the
/// registers, and MSI-X with its vector table at BAR0+0x300 and PBA at BAR0+0x400.
public enum RISCVIOMMUPCIFunction {
  public static let vendorID: UInt16 = 0x1b36
  public static let deviceID: UInt16 = 0x0014
  public static let classCode: UInt32 = 0x08_0600
  public static let revision: UInt8 = 0x01
  public static let barSize: UInt64 = 0x1000
  /// Where firmware placed BAR0 in the reference boot (QEMU virt, linux-7.2-traces).
  public static let referenceBARAddress: UInt64 = 0x4_0000_0000
  public static let msixTableOffset: UInt32 = 0x300
  public static let msixPBAOffset: UInt32 = 0x400

  /// The function's configuration space. `vectors` is the MSI-X table size (QEMU: 5).
  public static func configSpace(
    vendor: UInt16 = vendorID, device: UInt16 = deviceID, classCode: UInt32 = classCode,
    barAddress: UInt64 = referenceBARAddress, vectors: Int = 5
  ) -> SimulatedRegisterFile {
    var capabilities: [SimulatedConfigSpace.Capability] = []
    if vectors > 0 {
      let control = UInt16(vectors - 1)
      capabilities.append(
        .init(
          id: 0x11,
          body: le(control) + le(msixTableOffset) + le(msixPBAOffset)))
    }
    return SimulatedConfigSpace.make(
      vendor: vendor, device: device, classCode: classCode, revision: revision,
      bars: [.init(size: barSize, address: barAddress)], capabilities: capabilities)
  }

  private static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
  }
}

/// The platform variant (`compatible = "riscv,iommu"`, ACPI `RSCV0004`): the same register file
/// with the MSI configuration table at 0x300, and wire-signalled interrupts by default.
public enum RISCVIOMMUPlatformDevice {
  public static let compatible = "riscv,iommu"
  public static let acpiHID = "RSCV0004"
  /// QEMU virt's riscv-iommu-sys base.
  public static let referenceBase: UInt64 = 0x0300_0000
}
