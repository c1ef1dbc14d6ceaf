import DeviceCore
import Kernel

/// What firmware says about one SMMU before its registers are read.
struct ARMSMMUFirmwareData {
  var version: ARMSMMUArchVersion
  var model: ARMSMMUImplementation
  var globalIRQs: Int
  var pmuIRQs: Int
  var coherentWalk: Bool
}

extension ARMSMMUDriver {
  /// Mirrors arm_smmu_device_dt_probe(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// `#global-interrupts` is required; version and model come from the matched compatible; the
  /// legacy `mmu-masters` binding and the generic binding cannot be mixed; `dma-coherent` makes
  /// the table walk coherent.
  func deviceDTProbe(_ dev: Device, match: DeviceMatch) throws(Errno) -> ARMSMMUFirmwareData {
    guard let globalIRQs = dev.propertyU32("#global-interrupts") else {
      throw dev.errProbe(.ENODEV, "missing #global-interrupts property")
    }
    guard case .compatible(let compatible) = match,
      let data = Self.ofMatch.first(where: { $0.compatible == compatible })
    else { throw .ENODEV }
    let legacyBinding = dev.propertyPresent("mmu-masters")
    if legacyBinding && !usingGenericBinding {
      if !usingLegacyBinding {
        // CONFIG_ARM_SMMU_LEGACY_DT_BINDINGS defaults to n, hence "SMMU".
        dev.kernel?.printk(
          .notice,
          "arm-smmu: deprecated \"mmu-masters\" DT property in use; SMMU support unavailable")
      }
      usingLegacyBinding = true
    } else if !legacyBinding && !usingLegacyBinding {
      usingGenericBinding = true
    } else {
      dev.err("not probing due to mismatched DT properties")
      throw .ENODEV
    }
    return ARMSMMUFirmwareData(
      version: data.version, model: data.model, globalIRQs: Int(globalIRQs), pmuIRQs: 0,
      coherentWalk: dev.propertyPresent("dma-coherent"))
  }

  /// Mirrors arm_smmu_impl_init(), drivers/iommu/arm/arm-smmu/arm-smmu-impl.c (Linux 7.2), for
  /// the implementations the model has: MMU-500 gets its `reset` hook. Cavium, Qualcomm,
  /// NVIDIA, Calxeda and Marvell integrations are not modelled.
  func implInit(_ smmu: ARMSMMUDevice) {
    if smmu.model == .armMMU500 { smmu.hasMMU500Reset = true }
  }
}
