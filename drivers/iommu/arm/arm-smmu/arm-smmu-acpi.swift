import DeviceCore
import Firmware
import Kernel
import MMIO

/// What a platform device created from an IORT SMMUv1/v2 node carries as platform data
/// (`dev_get_platdata()` gives the node; the table is kept for the RMR lookup).
public struct ARMSMMUIORTPlatformData: Sendable, Hashable {
  public var table: IORTTable
  public var node: IORTNode
  public var smmu: IORTSMMU
  public init(table: IORTTable, node: IORTNode, smmu: IORTSMMU) {
    self.table = table
    self.node = node
    self.smmu = smmu
  }
}

extension ARMSMMUDriver {
  /// Mirrors iort_add_platform_device() with arm_smmu_count_resources() and
  /// arm_smmu_init_resources(), drivers/acpi/arm64/iort.c (Linux 7.2), for an SMMUv1/v2 node:
  /// a platform device `arm-smmu.N.auto` with the node's register window (served by `io`) and
  /// one global interrupt (the configuration access interrupt is ignored), the context
  /// interrupts and the PMU interrupts.
  public static func iortPlatformDevice(
    table: IORTTable, node: IORTNode, instance: Int, io: any WritableRegisterIO
  ) -> Device? {
    guard case .smmu(let smmu) = node.body else { return nil }
    let dev = Device(
      name: "arm-smmu.\(instance).auto", bus: .platform,
      identity: .platform(compatible: [], acpiHID: nil),
      resources: [DeviceResource(name: "arm-smmu", base: smmu.baseAddress, io: io)],
      irqCount: 1 + smmu.contextInterrupts.count + smmu.pmuInterrupts.count)
    dev.platformData = ARMSMMUIORTPlatformData(table: table, node: node, smmu: smmu)
    return dev
  }

  /// Mirrors acpi_smmu_get_data(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): the IORT
  /// model decides version and implementation; an unknown model is -ENODEV.
  static func acpiSMMUGetData(_ model: IORTSMMU.Model) throws(Errno) -> (
    ARMSMMUArchVersion, ARMSMMUImplementation
  ) {
    switch model {
    case .genericV1, .mmu400: return (.v1, .genericSMMU)
    case .mmu401: return (.v1_64K, .genericSMMU)
    case .genericV2: return (.v2, .genericSMMU)
    case .mmu500: return (.v2, .armMMU500)
    case .caviumThunderX: return (.v2, .caviumSMMUv2)
    case .unknown: throw .ENODEV
    }
  }

  /// Mirrors arm_smmu_device_acpi_probe(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// version and model from the IORT node, one global interrupt, no PMU interrupts counted,
  /// and the node's coherent-walk flag.
  func deviceACPIProbe(_ dev: Device) throws(Errno) -> ARMSMMUFirmwareData {
    guard let data = dev.platformData as? ARMSMMUIORTPlatformData else { throw .ENODEV }
    let (version, model) = try Self.acpiSMMUGetData(data.smmu.model)
    return ARMSMMUFirmwareData(
      version: version, model: model, globalIRQs: 1, pmuIRQs: 0,
      coherentWalk: data.smmu.isCoherentWalk)
  }

  /// Mirrors iort_get_rmr_sids(), drivers/acpi/arm64/iort.c (Linux 7.2), for one SMMU: one
  /// reserved region per memory range of every RMR node whose ID mappings lead to the SMMU,
  /// each carrying the stream IDs (`output_base` .. `output_base + id_count`) of those mappings.
  static func iortRMRStreamIDs(_ dev: Device) -> [[UInt32]] {
    guard let data = dev.platformData as? ARMSMMUIORTPlatformData else { return [] }
    var regions: [[UInt32]] = []
    for node in data.table.nodes {
      guard case .rmr(let rmr) = node.body else { continue }
      var sids: [UInt32] = []
      for map in node.idMappings where Int(map.outputReference) == data.node.offset {
        sids += (0...map.idCount).map { map.outputBase + $0 }
      }
      guard !sids.isEmpty else { continue }
      regions += Array(repeating: sids, count: rmr.ranges.count)
    }
    return regions
  }
}
