import DeviceCore
import Kernel
import MMIO

extension ARMSMMUDriver {
  /// Mirrors __arm_smmu_tlb_sync(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): writes
  /// the sync register, then polls the status register TLB_SPIN_COUNT times per round with
  /// udelay(delay) between rounds, delay doubling from 1 µs while below TLB_LOOP_TIMEOUT. A sync
  /// that never completes costs 2^20 - 1 µs of simulated time (20 rounds, 200 reads) and logs
  /// "TLB sync timed out -- SMMU may be deadlocked"; no error reaches the caller.
  func tlbSync(_ smmu: ARMSMMUDevice, page: Int, sync: Int, status: Int) throws(Errno) {
    let clock = smmu.dev.kernel?.clock
    try smmu.writel(page, sync, QCOM_DUMMY_VAL)
    var delay: UInt64 = 1
    while delay < TLB_LOOP_TIMEOUT {
      for _ in 0..<TLB_SPIN_COUNT {
        let reg = try smmu.readl(page, status)
        if reg & ARM_SMMU_sTLBGSTATUS_GSACTIVE == 0 { return }
        // cpu_relax(): no simulated time.
      }
      clock?.udelay(delay)
      delay *= 2
    }
    smmu.dev.err("TLB sync timed out -- SMMU may be deadlocked")
  }

  /// Mirrors arm_smmu_tlb_sync_global(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// sTLBGSYNC / sTLBGSTATUS in global register space 0.
  func tlbSyncGlobal(_ smmu: ARMSMMUDevice) throws(Errno) {
    try tlbSync(smmu, page: 0, sync: GR0.sTLBGSYNC, status: GR0.sTLBGSTATUS)
  }

  /// Mirrors arm_smmu_tlb_sync_context(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// the bank's TLBSYNC / TLBSTATUS.
  func tlbSyncContext(_ smmu: ARMSMMUDevice, cbndx: Int) throws(Errno) {
    try tlbSync(smmu, page: smmu.cbPage(cbndx), sync: CB.TLBSYNC, status: CB.TLBSTATUS)
  }

  /// Mirrors arm_smmu_flush_iotlb_all(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2),
  /// through the domain's `tlb_flush_all`: arm_smmu_tlb_inv_context_s1() (TLBIASID, then a
  /// context sync) for stage 1, arm_smmu_tlb_inv_context_s2() (TLBIVMID, then a global sync)
  /// for stage 2.
  public func flushIOTLBAll(_ domain: ARMSMMUDomain) throws(Errno) {
    guard let smmu = smmu(of: domain.smmuDevice) else { throw .ENODEV }
    if domain.stage1 {
      try smmu.cbWrite(domain.cbndx, CB.S1_TLBIASID, UInt32(domain.asidOrVMID))
      try tlbSyncContext(smmu, cbndx: domain.cbndx)
    } else {
      try smmu.gr0Write(GR0.TLBIVMID, UInt32(domain.asidOrVMID))
      try tlbSyncGlobal(smmu)
    }
  }
}
