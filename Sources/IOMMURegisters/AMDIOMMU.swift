import MMIO

// AMD IOMMU registers that Linux exposes in /sys/class/iommu/ivhdN/amd-iommu/{cap,features}:
// the PCI capability header (ID 0x0F) and the Extended Feature Register (MMIO 0x30), named as
// the AMD I/O Virtualization Technology specification (#48882) names them.

/// The IOMMU capability header, dword 0 of PCI capability ID 0x0F ("Secure Device"). The kernel
/// prints it as `amd-iommu/cap` (`"%x"`, `iommu->cap`). The offset is the capability's.
public struct AMDIOMMUCapabilityHeader: Register {
  public static let offset = 0x00
  public static let name = "IOMMU_CAP_HEADER"
  public static let fields: [RegisterField] = [
    .init("CapID", 0...7), .init("CapPtr", 8...15), .init("CapType", 16...18),
    .init("CapRev", 19...23), .init("IotlbSup", bit: 24), .init("HtTunnel", bit: 25),
    .init("NpCache", bit: 26), .init("EFRSup", bit: 27), .init("CapExt", bit: 28),
  ]
  public var raw: UInt32
  public init(raw: UInt32) { self.raw = raw }
  /// Capability type 3 identifies an IOMMU among Secure Device capabilities.
  public var isIOMMU: Bool { raw[bits: 0...7] == 0x0f && raw[bits: 16...18] == 3 }
}

/// MMIO Extended Feature Register (0x30), `amd_iommu_efr` in drivers/iommu/amd (Linux 7.2),
/// printed at boot as "AMD-Vi: Extended features (0x...)".
public struct AMDExtendedFeatures: Register {
  public static let offset = 0x30
  public static let name = "EFR"
  /// The fields Linux 7.2 tests (FEATURE_* in drivers/iommu/amd/amd_iommu_types.h), by the
  /// specification's names; other bits are left undecoded.
  public static let fields: [RegisterField] = [
    .init("PreFSup", bit: 0), .init("PPRSup", bit: 1), .init("XTSup", bit: 2),
    .init("NXSup", bit: 3), .init("GTSup", bit: 4), .init("IASup", bit: 6),
    .init("GASup", bit: 7), .init("HESup", bit: 8), .init("PCSup", bit: 9),
    .init("HATS", 10...11), .init("GATS", 12...13), .init("GLXSup", 14...15),
    .init("GAMSup", 21...23), .init("PASmax", 32...36), .init("GIOSup", bit: 48),
    .init("HASup", bit: 49), .init("EPHSup", bit: 50), .init("HDSup", bit: 52),
    .init("SNPSup", bit: 63),
  ]
  public var raw: UInt64
  public init(raw: UInt64) { self.raw = raw }
}
