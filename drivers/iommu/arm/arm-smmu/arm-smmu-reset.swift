import DeviceCore
import Kernel
import MMIO

extension ARMSMMUDriver {
  /// Mirrors arm_smmu_write_smr(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2).
  func writeSMR(_ smmu: ARMSMMUDevice, _ idx: Int) throws(Errno) {
    guard let smr = smmu.smrs?[idx] else { return }
    var reg: UInt32 = 0
    reg[bits: SMRBits.ID] = UInt32(smr.id)
    reg[bits: SMRBits.MASK] = UInt32(smr.mask)
    if !smmu.features.contains(.exids) && smr.valid { reg |= SMRBits.VALID }
    try smmu.gr0Write(GR0.SMR(idx), reg)
  }

  /// Mirrors arm_smmu_write_s2cr(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2).
  func writeS2CR(_ smmu: ARMSMMUDevice, _ idx: Int) throws(Errno) {
    let s2cr = smmu.s2crs[idx]
    var reg: UInt32 = 0
    reg[bits: S2CRBits.TYPE] = s2cr.type.rawValue
    reg[bits: S2CRBits.CBNDX] = UInt32(s2cr.cbndx)
    reg[bits: S2CRBits.PRIVCFG] = s2cr.privcfg
    if smmu.features.contains(.exids), let smrs = smmu.smrs, smrs[idx].valid {
      reg |= S2CRBits.EXIDVALID
    }
    try smmu.gr0Write(GR0.S2CR(idx), reg)
  }

  /// Mirrors arm_smmu_write_sme(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): S2CR
  /// first, then the SMR when stream matching is in use.
  func writeSME(_ smmu: ARMSMMUDevice, _ idx: Int) throws(Errno) {
    try writeS2CR(smmu, idx)
    if smmu.smrs != nil { try writeSMR(smmu, idx) }
  }

  /// Mirrors arm_smmu_write_context_bank(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// an unassigned bank only has SCTLR written 0; an assigned one gets CBA2R (v2), CBAR, TCR2
  /// and TCR, the TTBRs, the MAIRs (stage 1), then SCTLR with M set.
  func writeContextBank(_ smmu: ARMSMMUDevice, _ idx: Int) throws(Errno) {
    guard let cb = smmu.cbs[idx] else {
      try smmu.cbWrite(idx, CB.SCTLR, 0)
      return
    }
    if smmu.version > .v1 {
      var reg: UInt32 = cb.aarch64 ? CBBits.CBA2R_VA64 : 0
      // 16-bit VMIDs live in CBA2R.
      if smmu.features.contains(.vmid16) { reg[bits: CBBits.CBA2R_VMID16] = UInt32(cb.vmid) }
      try smmu.gr1Write(GR1.CBA2R(idx), reg)
    }
    var reg: UInt32 = 0
    reg[bits: CBBits.CBAR_TYPE] = cb.cbar.rawValue
    if smmu.version < .v2 { reg[bits: 24...31] = UInt32(idx % max(smmu.numContextIRQs, 1)) }
    if cb.stage1 {
      // The weakest shareability and memory type, so the TCR and PTEs override them.
      reg[bits: CBBits.CBAR_S1_BPSHCFG] = CBBits.CBAR_S1_BPSHCFG_NSH
      reg[bits: CBBits.CBAR_S1_MEMATTR] = CBBits.CBAR_S1_MEMATTR_WB
    } else if !smmu.features.contains(.vmid16) {
      // 8-bit VMIDs live in CBAR.
      reg[bits: CBBits.CBAR_VMID] = UInt32(cb.vmid & 0xff)
    }
    try smmu.gr1Write(GR1.CBAR(idx), reg)
    // TCR before the TTBRs: it decides how some of their fields (ASID[15:8]) behave.
    if cb.stage1 && smmu.version > .v1 { try smmu.cbWrite(idx, CB.TCR2, cb.tcr.1) }
    try smmu.cbWrite(idx, CB.TCR, cb.tcr.0)
    try smmu.cbWriteq(idx, CB.TTBR0, cb.ttbr.0)
    if cb.stage1 { try smmu.cbWriteq(idx, CB.TTBR1, cb.ttbr.1) }
    if cb.stage1 {
      try smmu.cbWrite(idx, CB.S1_MAIR0, cb.mair.0)
      try smmu.cbWrite(idx, CB.S1_MAIR1, cb.mair.1)
    }
    var sctlr =
      CBBits.SCTLR_CFIE | CBBits.SCTLR_CFRE | CBBits.SCTLR_AFE | CBBits.SCTLR_TRE | CBBits.SCTLR_M
    if cb.stage1 { sctlr |= CBBits.SCTLR_S1_ASIDPNE }
    if smmu.dev.kernel?.context.config.cpuBigEndian ?? false { sctlr |= CBBits.SCTLR_E }
    try smmu.cbWrite(idx, CB.SCTLR, sctlr)
  }

  /// Mirrors arm_smmu_device_reset(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2), in
  /// the kernel's order: clear sGFSR; write every stream map entry from the shadows; disable
  /// every context bank and clear its FSR; TLBIALLH and TLBIALLNSNH; compute sCR0 from a read;
  /// the implementation's reset hook; a global TLB sync; then "push the button" (write sCR0).
  func deviceReset(_ smmu: ARMSMMUDevice) throws(Errno) {
    // Clear the global FSR by writing back what was read.
    var reg = try smmu.gr0Read(GR0.sGFSR)
    try smmu.gr0Write(GR0.sGFSR, reg)
    // Stream mapping groups: all SMRs invalid and all S2CRs s2cr_init_val unless overridden.
    for i in 0..<smmu.numMappingGroups { try writeSME(smmu, i) }
    // Every context bank (re)written and its FSR cleared.
    for i in 0..<smmu.numContextBanks {
      try writeContextBank(smmu, i)
      try smmu.cbWrite(i, CB.FSR, ARM_SMMU_CB_FSR_FAULT)
    }
    // Invalidate the TLB, just in case.
    try smmu.gr0Write(GR0.TLBIALLH, QCOM_DUMMY_VAL)
    try smmu.gr0Write(GR0.TLBIALLNSNH, QCOM_DUMMY_VAL)

    reg = try smmu.gr0Read(GR0.sCR0)
    // Enable fault reporting.
    reg |= SCR0.GFRE | SCR0.GFIE | SCR0.GCFGFRE | SCR0.GCFGFIE
    // Disable TLB broadcasting.
    reg |= SCR0.VMIDPNE | SCR0.PTM
    // Enable client access, handling unmatched streams as disable_bypass says.
    reg &= ~SCR0.CLIENTPD
    if smmu.disableBypass { reg |= SCR0.USFCFG } else { reg &= ~SCR0.USFCFG }
    // Disable forced broadcasting; don't upgrade barriers.
    reg &= ~SCR0.FB
    reg &= ~SCR0.BSU
    if smmu.features.contains(.vmid16) { reg |= SCR0.VMID16EN }
    if smmu.features.contains(.exids) { reg |= SCR0.EXIDENABLE }
    if smmu.hasMMU500Reset { try mmu500Reset(smmu) }
    // Push the button.
    try tlbSyncGlobal(smmu)
    try smmu.gr0Write(GR0.sCR0, reg)
  }

  /// Mirrors arm_smmu_test_smr_masks(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): on
  /// the first invalid SMR, writes ID = streamid_mask and reads back the implemented ID bits,
  /// then the same for MASK. Runs after sCR0 is written, as EXIDENABLE changes the MASK width.
  func testSMRMasks(_ smmu: ARMSMMUDevice) throws(Errno) {
    guard let smrs = smmu.smrs else { return }
    // With no free SMR the test is unnecessary: only trusted ID/mask values are in use.
    guard let i = smrs.firstIndex(where: { !$0.valid }) else { return }
    var smr: UInt32 = 0
    smr[bits: SMRBits.ID] = UInt32(smmu.streamidMask)
    try smmu.gr0Write(GR0.SMR(i), smr)
    smr = try smmu.gr0Read(GR0.SMR(i))
    smmu.streamidMask = UInt16(truncatingIfNeeded: smr[bits: SMRBits.ID])

    smr = 0
    smr[bits: SMRBits.MASK] = UInt32(smmu.streamidMask)
    try smmu.gr0Write(GR0.SMR(i), smr)
    smr = try smmu.gr0Read(GR0.SMR(i))
    smmu.smrMaskMask = UInt16(truncatingIfNeeded: smr[bits: SMRBits.MASK])
  }

  /// Mirrors arm_smmu_rmr_install_bypass_smr(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux
  /// 7.2): sets sCR0.CLIENTPD unconditionally (the whole SMMU bypasses until the reset; the
  /// kernel-list variant skips it after its switch, the `abort` variant with `disable_bypass`
  /// sets USFCFG instead), then gives every RMR stream ID an exact-match SMR with a BYPASS S2CR.
  func rmrInstallBypassSMR(_ smmu: ARMSMMUDevice) throws(Errno) {
    let rmrList = Self.iortRMRStreamIDs(smmu.dev)
    // Rather than vet the firmware's mappings, disable the SMMU until the reset enables it
    // (not after the kernel-list switch: that would let every stream bypass; and under `abort`
    // with disable_bypass, unmatched streams are made to fault instead of everything bypassing).
    if variant == .abort && smmu.disableBypass {
      var reg = try smmu.gr0Read(GR0.sCR0)
      reg |= SCR0.USFCFG
      try smmu.gr0Write(GR0.sCR0, reg)
    } else if !smmu.keepsClientPortEnabled {
      var reg = try smmu.gr0Read(GR0.sCR0)
      reg |= SCR0.CLIENTPD
      try smmu.gr0Write(GR0.sCR0, reg)
    }
    var cnt = 0
    for sid in rmrList.joined() {
      let idx: Int
      do { idx = try findSME(smmu, id: UInt16(truncatingIfNeeded: sid), mask: 0xffff) } catch {
        continue
      }
      if smmu.s2crs[idx].count == 0 {
        smmu.smrs?[idx] = ARMSMMUSMR(mask: 0, id: UInt16(truncatingIfNeeded: sid), valid: true)
      }
      smmu.s2crs[idx].count += 1
      smmu.s2crs[idx].type = .bypass
      smmu.s2crs[idx].privcfg = 0
      cnt += 1
    }
    smmu.dev.notice("\tpreserved \(cnt) boot mapping\(cnt == 1 ? "" : "s")")
  }
}
