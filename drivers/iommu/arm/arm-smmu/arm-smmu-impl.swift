import DeviceCore
import Kernel
import MMIO

/// `ARM_MMU500_ACTLR_CPRE`, `ARM_MMU500_ACR_CACHE_LOCK`, `ARM_MMU500_ACR_S2CRB_TLBEN`,
/// `ARM_MMU500_ACR_SMTNMB_TLBEN` (drivers/iommu/arm/arm-smmu/arm-smmu-impl.c).
let ARM_MMU500_ACTLR_CPRE: UInt32 = 1 << 1
let ARM_MMU500_ACR_CACHE_LOCK: UInt32 = 1 << 26
let ARM_MMU500_ACR_S2CRB_TLBEN: UInt32 = 1 << 10
let ARM_MMU500_ACR_SMTNMB_TLBEN: UInt32 = 1 << 8

extension ARMSMMUDriver {
  /// Mirrors arm_mmu500_reset(), drivers/iommu/arm/arm-smmu/arm-smmu-impl.c (Linux 7.2): from
  /// r2p0 (ID7.MAJOR >= 2) clears sACR.CACHE_LOCK so bank ACTLR writes stick; lets unmatched
  /// and bypass streams allocate TLB entries; with CONFIG_ARM_SMMU_MMU_500_CPRE_ERRATA (default
  /// y) clears every bank's ACTLR.CPRE and warns once if it did not stick.
  func mmu500Reset(_ smmu: ARMSMMUDevice) throws(Errno) {
    var reg = try smmu.gr0Read(GR0.ID7)
    let major = reg[bits: ID7.MAJOR]
    reg = try smmu.gr0Read(GR0.sACR)
    if major >= 2 { reg &= ~ARM_MMU500_ACR_CACHE_LOCK }
    // Unmatched stream IDs may allocate bypass TLB entries, for lower latency.
    reg |= ARM_MMU500_ACR_SMTNMB_TLBEN | ARM_MMU500_ACR_S2CRB_TLBEN
    try smmu.gr0Write(GR0.sACR, reg)
    guard smmu.dev.kernel?.context.config.armSMMUMMU500CPREErrata ?? true else { return }
    // MMU-500's next-page prefetcher is off, for at least 5 known errata.
    var warned = false
    for i in 0..<smmu.numContextBanks {
      reg = try smmu.cbRead(i, CB.ACTLR)
      reg &= ~ARM_MMU500_ACTLR_CPRE
      try smmu.cbWrite(i, CB.ACTLR, reg)
      reg = try smmu.cbRead(i, CB.ACTLR)
      if reg & ARM_MMU500_ACTLR_CPRE != 0 && !warned {
        warned = true
        smmu.dev.warn(
          "Failed to disable prefetcher for errata workarounds, check SACR.CACHE_LOCK")
      }
    }
  }
}
