import DeviceCore
import Kernel
import MMIO

extension ARMSMMUDriver {
  /// Mirrors arm_smmu_global_fault(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): the
  /// global fault IRQ handler. Reads sGFSR and sGFSYNR0-2; returns false (IRQ_NONE) when sGFSR
  /// is 0; logs the unknown stream (with CONFIG_ARM_SMMU_DISABLE_BYPASS_BY_DEFAULT and USF) or
  /// an unexpected fault, then the syndrome; writes sGFSR back to clear it.
  @discardableResult
  public func globalFault(_ dev: Device) -> Bool {
    guard let smmu = smmu(of: dev) else { return false }
    do {
      let gfsr = try smmu.gr0Read(GR0.sGFSR)
      let gfsynr0 = try smmu.gr0Read(GR0.sGFSYNR0)
      let gfsynr1 = try smmu.gr0Read(GR0.sGFSYNR1)
      let gfsynr2 = try smmu.gr0Read(GR0.sGFSYNR2)
      if gfsr == 0 { return false }
      let byDefault = dev.kernel?.context.config.armSMMUDisableBypassByDefault ?? true
      if byDefault && gfsr & ARM_SMMU_sGFSR_USF != 0 {
        dev.err(
          "Blocked unknown Stream ID \(hex(UInt16(truncatingIfNeeded: gfsynr1))); boot with \"arm-smmu.disable_bypass=0\" to allow, but this may have security implications"
        )
      } else {
        dev.err("Unexpected global fault, this could be serious")
      }
      dev.err(
        "\tGFSR \(hex(gfsr, digits: 8)), GFSYNR0 \(hex(gfsynr0, digits: 8)), GFSYNR1 \(hex(gfsynr1, digits: 8)), GFSYNR2 \(hex(gfsynr2, digits: 8))"
      )
      try smmu.gr0Write(GR0.sGFSR, gfsr)
      return true
    } catch {
      return false
    }
  }
}
