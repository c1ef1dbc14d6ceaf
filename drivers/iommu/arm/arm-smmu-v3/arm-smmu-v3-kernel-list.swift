import DeviceCore
import Kernel
import MMIO

// The kernel-list proposal for the SMMUv3 (not in Linux 7.2): the old kernel keeps the SMMU
// translating and blocks its masters; the next kernel switches to aborting everything in one
// architecturally allowed step and only lets devices it attaches translate again.
//
// Why this step: with SMMUEN=1, changing STRTAB_BASE/STRTAB_BASE_CFG (or CR1/CR2) is
// CONSTRAINED UNPREDICTABLE, so the next kernel cannot swap in a table of its own while
// translation stays on. Rewriting the live STEs one by one would write into the previous
// kernel's memory (the dump, in a crash kernel) and is one step per stream, not one step. What
// the architecture does allow is GBPA: its ABORT bit governs traffic only while SMMUEN=0, so
// setting it first changes nothing, and the single CR0 write that clears SMMUEN then makes every
// transaction terminate (no event, nothing written) from the moment CR0ACK follows. The new
// stream table, whose STEs all abort, is programmed while disabled, in the new kernel's memory,
// and SMMUEN set again: the SMMU goes from the old tables to aborting without ever bypassing.
// Linux 7.2's reset already takes this path when it finds SMMUEN set ("SMMU currently enabled!
// Resetting..."); the variant differs in that the state is expected (an info line), and in that
// it does not go on to clear SMMUEN when GBPA cannot be made to abort.

extension ARMSMMUv3Device {
  /// The first step of the kernel-list reset, for an SMMU found with SMMUEN set: GBPA.ABORT
  /// through the UPDATE handshake, which must succeed. The caller's CR0 write is the switch.
  func kernelListPrepareSwitch() throws(Errno) {
    dev.info("kernel-list: SMMU left enabled by the previous kernel, aborting every stream")
    do {
      try updateGBPA(set: GBPA.ABORT, clear: 0)
    } catch {
      // Clearing SMMUEN now would bypass: keep translating through the old tables.
      mustStayEnabled = true
      dev.err("kernel-list: GBPA.ABORT not applied, leaving the SMMU enabled")
      throw error
    }
  }

  /// The kernel-list shutdown: every master gets the blocked domain's abort STE (CFGI_STE and
  /// CMD_SYNC through arm_smmu_write_ste()), SMMUEN and the configuration stay. Masters run
  /// their `->shutdown()` first (fw_devlink consumers), so what still issues DMA here was not
  /// quiesced: it is terminated from now on instead of bypassing through GBPA.
  func kernelListShutdown() {
    dev.info("kernel-list: blocking every master, leaving translation on for the next kernel")
    for master in masters {
      for sid in master.streamIDs { try? writeSTE(sid: sid, target: STE.abort) }
      master.domain = nil
    }
  }
}
