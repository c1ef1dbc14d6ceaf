import DeviceCore
import Kernel
import MMIO

// The kernel-list proposal for SMMUv1/v2 (not in Linux 7.2): the old kernel keeps the client
// port enabled and makes every stream fault; the next kernel, finding the port enabled, makes
// every stream fault before anything else and never sets CLIENTPD.
//
// Why a sequence and not one step: SMMUv2 has no table base to swap. Stream matching lives in
// the SMRs and S2CRs, and sCR0 has no bit that faults matched streams: CLIENTPD bypasses
// everything and USFCFG covers only streams no SMR matches. The sequence is therefore one
// sCR0 write (USFCFG: unmatched streams fault), then one S2CR write per stream map entry
// (TYPE = FAULT), each entry faulting from its own write on. No write opens a path: the
// exposure is that, during those N-1 writes (no poll, no delay between them), the streams of the
// entries not yet written still use the previous kernel's configuration (its context banks and
// page tables, or a BYPASS entry). The driver's usual first register write, the RMR step's
// sCR0.CLIENTPD, is skipped: it would let every stream bypass until the reset.

extension ARMSMMUDriver {
  /// The kernel-list boot, before the RMR step: when sCR0.CLIENTPD is clear (a previous kernel
  /// left the client port enabled), sCR0 |= USFCFG, then S2CR(i) := FAULT for every stream map
  /// entry in index order. The reset that follows keeps every stream faulting until a device
  /// attaches (`disable_bypass` is forced on if it was off, since BYPASS entries would let
  /// unquiesced devices through).
  func kernelListSwitch(_ smmu: ARMSMMUDevice) throws(Errno) {
    let scr0 = try smmu.gr0Read(GR0.sCR0)
    guard scr0 & SCR0.CLIENTPD == 0 else { return }
    smmu.dev.info("kernel-list: translation left on by the previous kernel, faulting every stream")
    try smmu.gr0Write(GR0.sCR0, scr0 | SCR0.USFCFG)
    var fault: UInt32 = 0
    fault[bits: S2CRBits.TYPE] = S2CRType.fault.rawValue
    for i in 0..<smmu.numMappingGroups { try smmu.gr0Write(GR0.S2CR(i), fault) }
    smmu.keepsClientPortEnabled = true
    if !smmu.disableBypass {
      smmu.dev.info("kernel-list: ignoring disable_bypass=0, unattached streams fault")
      smmu.disableBypass = true
      smmu.s2crs = Array(repeating: smmu.s2crInitVal, count: smmu.s2crs.count)
    }
  }

  /// The kernel-list shutdown: sCR0 |= USFCFG, then every stream map entry's S2CR TYPE := FAULT
  /// (SMRs, context banks and CLIENTPD = 0 kept). Masters shut down first (fw_devlink
  /// consumers), so what still issues DMA here was not quiesced: it faults instead of bypassing.
  func kernelListShutdown(_ smmu: ARMSMMUDevice) throws(Errno) {
    smmu.dev.info("kernel-list: faulting every stream, leaving the client port enabled")
    let scr0 = try smmu.gr0Read(GR0.sCR0)
    try smmu.gr0Write(GR0.sCR0, scr0 | SCR0.USFCFG)
    for i in 0..<smmu.numMappingGroups where smmu.s2crs[i].type != .fault {
      smmu.s2crs[i].type = .fault
      try writeS2CR(smmu, i)
    }
  }
}
