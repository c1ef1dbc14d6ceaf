import DeviceCore
import Kernel
import MMIO

extension ARMSMMUv3Device {
  /// The kdump-adopt variant's reset, modelled on the proposed "kdump adopt" series (not in
  /// Linux 7.2): in a crash kernel that finds SMMUEN set and no service failure, keep SMMUEN
  /// (and ATSCHK) and the old stream table — no CR1/CR2/STRTAB writes, which are CONSTRAINED
  /// UNPREDICTABLE while SMMUEN=1 — stop the queues, restart the command queue on fresh memory,
  /// invalidate, acknowledge latched global errors, leave EVTQ/PRIQ off and set up IRQs.
  /// Returns false when the normal reset must run instead.
  func kdumpAdoptReset() throws(Errno) -> Bool {
    guard isKdumpKernel else { return false }
    let cr0 = try readl(Reg.CR0)
    guard cr0 & CR0.SMMUEN != 0 else { return false }
    let gerror = try readl(Reg.GERROR)
    let gerrorn = try readl(Reg.GERRORN)
    if (gerror ^ gerrorn) & GError.SFM_ERR != 0 {
      dev.warn("kdump: SMMU in service failure mode, not adopting")
      return false
    }
    strtab.adoptedBase = try readq(Reg.STRTAB_BASE) & Strtab.BASE_ADDR_MASK
    dev.info("kdump: adopting the stream table at \(hex(strtab.adoptedBase ?? 0, digits: 9))")

    // Stop the queues of the crashed kernel, keeping translation on.
    let kept = cr0 & (CR0.SMMUEN | CR0.ATSCHK)
    do {
      try writeRegSync(kept, Reg.CR0, ack: Reg.CR0ACK)
    } catch {
      dev.err("failed to disable queues")
      throw error
    }
    try enableCommandQueue(keeping: kept)
    try? cmdqIssueCmdWithSync(.cfgiAll)
    if features.contains(.hyp) { try? cmdqIssueCmdWithSync(.tlbiEL2All) }
    try? cmdqIssueCmdWithSync(.tlbiNSNHAll)
    if (gerror ^ gerrorn) & GError.ERR_MASK != 0 { try writel(gerror, Reg.GERRORN) }
    do {
      try setupIRQs()
    } catch {
      dev.err("failed to setup irqs")
      throw error
    }
    adopted = true
    return true
  }
}
