import DeviceCore
import Firmware
import Kernel
import MMIO

/// The SMMUv3 part of drivers/acpi/arm64/iort.c: the platform devices IORT describes, which
/// the arm-smmu-v3 driver then binds by name.
public enum IORTSMMUv3Platform {
  /// Mirrors iort_add_platform_device() with arm_smmu_v3_count_resources(),
  /// arm_smmu_v3_init_resources() and arm_smmu_v3_is_combined_irq(), drivers/acpi/arm64/iort.c
  /// (Linux 7.2): one "arm-smmu-v3.N.auto" device per SMMUv3 node, with a 128 KiB MMIO
  /// resource (64 KiB for Cavium CN99xx), its named interrupts, and the node as platform data.
  /// `registers` gives the register block behind a base address and size.
  public static func devices(
    from table: IORTTable, registers: (UInt64, Int) -> any WritableRegisterIO
  ) -> [Device] {
    table.smmuV3s.enumerated().map { index, entry in
      let smmu = entry.smmu
      let size = smmu.model == .caviumCN99xx ? 0x10000 : 0x20000
      let device = Device(
        name: "arm-smmu-v3.\(index).auto", bus: .platform,
        identity: .platform(compatible: [], acpiHID: nil),
        resources: [DeviceResource(name: "arm-smmu-v3", base: smmu.baseAddress, io: registers(smmu.baseAddress, size))])
      var names: [String] = []
      let combined =
        smmu.model == .caviumCN99xx && smmu.eventGSIV == smmu.priGSIV
        && smmu.eventGSIV == smmu.gerrGSIV && smmu.eventGSIV == smmu.syncGSIV
      if combined {
        if smmu.eventGSIV != 0 { names.append("combined") }
      } else {
        if smmu.eventGSIV != 0 { names.append("eventq") }
        if smmu.priGSIV != 0 { names.append("priq") }
        if smmu.gerrGSIV != 0 { names.append("gerror") }
        if smmu.syncGSIV != 0 { names.append("cmdq-sync") }
      }
      device.irqCount = names.count
      device.properties["interrupt-names"] = .strings(names)
      device.platformData = entry.node
      return device
    }
  }

  /// The stream ID a PCI requester ID reaches on the SMMUv3 at `base`, if IORT routes it there
  /// (iort_pci_iommu_init()).
  public static func streamID(
    in table: IORTTable, requesterID: UInt16, segment: UInt32 = 0, smmuBase: UInt64
  ) -> UInt32? {
    guard let mapped = table.streamID(forRequesterID: requesterID, segment: segment),
      case .smmuV3(let smmu) = mapped.node.body, smmu.baseAddress == smmuBase
    else { return nil }
    return mapped.id
  }
}

extension ARMSMMUv3Driver {
  /// Mirrors arm_smmu_device_acpi_probe() and acpi_smmu_get_options(),
  /// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2): options from the IORT model,
  /// coherency and HTTU from the node's override flags.
  func acpiProbe(_ smmu: ARMSMMUv3Device, node: IORTNode) throws(Errno) {
    guard case .smmuV3(let iort) = node.body else { throw .ENODEV }
    switch iort.model {
    case .caviumCN99xx: smmu.options.insert(.page0RegsOnly)
    case .hisiliconHi161x: smmu.options.insert(.skipPrefetch)
    default: break
    }
    smmu.dev.notice("option mask 0x\(String(smmu.options.rawValue, radix: 16))")
    if iort.flags.contains(.coherentAccessOverride) { smmu.features.insert(.coherency) }
    switch (iort.flags.rawValue >> 1) & 0x3 {
    case 2: smmu.features.formUnion([.hd, .ha])
    case 1: smmu.features.insert(.ha)
    default: break
    }
  }
}
