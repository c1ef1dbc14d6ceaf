import DeviceCore
import Kernel
import MMIO

/// A paging domain attached through ``ARMSMMUDriver/attachPaging(_:)``: its context bank and
/// the page table the bank walks.
public final class ARMSMMUDomain {
  /// The SMMU whose context bank the domain holds.
  public let smmuDevice: Device
  public let cbndx: Int
  /// The ASID (stage 1) or VMID (stage 2) the bank tags its TLB entries with.
  public let asidOrVMID: UInt16
  public let pageTable: ARMLPAEPageTable
  public var stage1: Bool { pageTable.stage1 }
  init(smmuDevice: Device, cbndx: Int, asidOrVMID: UInt16, pageTable: ARMLPAEPageTable) {
    self.smmuDevice = smmuDevice
    self.cbndx = cbndx
    self.asidOrVMID = asidOrVMID
    self.pageTable = pageTable
  }
}

extension ARMSMMUDriver {
  /// Mirrors arm_smmu_find_sme(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): the stream
  /// map entry for (id, mask): the index itself with stream indexing; an existing SMR that
  /// entirely covers it; -EINVAL on a partial overlap; else the first free one (-ENOSPC if none).
  func findSME(_ smmu: ARMSMMUDevice, id: UInt16, mask: UInt16) throws(Errno) -> Int {
    guard let smrs = smmu.smrs else { return Int(id) }
    var freeIdx: Int?
    for (i, smr) in smrs.enumerated() {
      guard smr.valid else {
        if freeIdx == nil { freeIdx = i }
        continue
      }
      if mask & smr.mask == mask && (id ^ smr.id) & ~smr.mask == 0 { return i }
      if (id ^ smr.id) & ~(smr.mask | mask) == 0 { throw .EINVAL }
    }
    guard let freeIdx else { throw .ENOSPC }
    return freeIdx
  }

  /// Mirrors arm_smmu_probe_device() and arm_smmu_master_alloc_smes(),
  /// drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): checks each fwspec ID against the
  /// discovered stream ID and SMR mask widths, claims a stream map entry per ID (writing S2CR
  /// then SMR, with the S2CR still `s2cr_init_val`), and links the master to the SMMU.
  public func probeDevice(_ master: Device) throws(Errno) {
    guard let smmuDev = master.iommu, let smmu = smmu(of: smmuDev) else { throw .ENODEV }
    for fwid in master.streamIDs {
      let sid = UInt16(truncatingIfNeeded: fwid)
      let mask = UInt16(truncatingIfNeeded: fwid >> 16)
      if sid & ~smmu.streamidMask != 0 {
        master.err(
          "stream ID \(hex(sid)) out of range for SMMU (\(hex(smmu.streamidMask)))")
        throw .EINVAL
      }
      if mask & ~smmu.smrMaskMask != 0 {
        master.err("SMR mask \(hex(mask)) out of range for SMMU (\(hex(smmu.smrMaskMask)))")
        throw .EINVAL
      }
    }
    var smendx: [Int] = []
    for fwid in master.streamIDs {
      let sid = UInt16(truncatingIfNeeded: fwid)
      let mask = UInt16(truncatingIfNeeded: fwid >> 16)
      let idx: Int
      do { idx = try findSME(smmu, id: sid, mask: mask) } catch {
        for i in smendx { _ = freeSME(smmu, i) }
        throw error
      }
      if smmu.smrs != nil && smmu.s2crs[idx].count == 0 {
        smmu.smrs?[idx] = ARMSMMUSMR(mask: mask, id: sid, valid: true)
      }
      smmu.s2crs[idx].count += 1
      smendx.append(idx)
    }
    // It worked: now poke the hardware.
    for idx in smendx { try writeSME(smmu, idx) }
    smmu.masters[ObjectIdentifier(master)] = smendx
    try? master.core?.addLink(supplier: smmuDev, consumer: master)
  }

  /// Mirrors arm_smmu_free_sme(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2).
  func freeSME(_ smmu: ARMSMMUDevice, _ idx: Int) -> Bool {
    smmu.s2crs[idx].count -= 1
    if smmu.s2crs[idx].count > 0 { return false }
    smmu.s2crs[idx] = smmu.s2crInitVal
    smmu.smrs?[idx].valid = false
    return true
  }

  /// Mirrors arm_smmu_release_device() / arm_smmu_master_free_smes(),
  /// drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2): entries no longer used go back to
  /// `s2cr_init_val` and an invalid SMR.
  public func releaseDevice(_ master: Device) throws(Errno) {
    guard let smmuDev = master.iommu, let smmu = smmu(of: smmuDev),
      let smendx = smmu.masters.removeValue(forKey: ObjectIdentifier(master))
    else { return }
    for idx in smendx where freeSME(smmu, idx) { try writeSME(smmu, idx) }
  }

  /// Mirrors arm_smmu_master_install_s2crs(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux
  /// 7.2): rewrites only the S2CRs whose type or bank changes.
  func installS2CRs(_ master: Device, type: S2CRType, cbndx: UInt8) throws(Errno) {
    guard let smmuDev = master.iommu, let smmu = smmu(of: smmuDev),
      let smendx = smmu.masters[ObjectIdentifier(master)]
    else { throw .ENODEV }
    for idx in smendx {
      if smmu.s2crs[idx].type == type && smmu.s2crs[idx].cbndx == cbndx { continue }
      smmu.s2crs[idx].type = type
      smmu.s2crs[idx].privcfg = 0
      smmu.s2crs[idx].cbndx = cbndx
      try writeS2CR(smmu, idx)
    }
  }

  /// Mirrors arm_smmu_attach_dev_identity(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// the master's S2CRs become BYPASS.
  public func attachIdentity(_ master: Device) throws(Errno) {
    try installS2CRs(master, type: .bypass, cbndx: 0)
  }

  /// Mirrors arm_smmu_attach_dev_blocked(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// the master's S2CRs become FAULT.
  public func attachBlocked(_ master: Device) throws(Errno) {
    try installS2CRs(master, type: .fault, cbndx: 0)
  }

  /// Mirrors arm_smmu_attach_dev() with arm_smmu_init_domain_context(),
  /// drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2), for a new paging domain: picks stage 1
  /// when the SMMU has it (else stage 2), the AArch64 format with the 4 KiB granule, allocates
  /// a context bank (stage-1 domains above the stage-2-only banks), builds the page table,
  /// writes the bank and points the master's S2CRs at it (TRANS).
  public func attachPaging(_ master: Device) throws(Errno) -> ARMSMMUDomain {
    guard let smmuDev = master.iommu, let smmu = smmu(of: smmuDev) else { throw .ENODEV }
    guard smmu.features.contains(.fmtAArch64_4K) else { throw .EINVAL }
    let stage1 = smmu.features.contains(.transS1)
    let start = stage1 ? smmu.numS2ContextBanks : 0
    guard let cbndx = (start..<smmu.numContextBanks).first(where: { !smmu.contextMap.contains($0) })
    else { throw .ENOSPC }
    let ias = stage1 ? smmu.vaSize : smmu.ipaSize
    let oas = stage1 ? smmu.ipaSize : smmu.paSize
    let table = try ARMLPAEPageTable(
      device: smmuDev, stage1: stage1, ias: ias, oas: oas,
      coherentWalk: smmu.features.contains(.coherentWalk))
    smmu.contextMap.insert(cbndx)
    var cb = ARMSMMUContextBank(cbar: stage1 ? .s1TransS2Bypass : .s2Trans)
    if stage1 {
      cb.asid = UInt16(cbndx)
      var asidField: UInt64 = 0
      asidField[bits: CBBits.TTBRn_ASID] = UInt64(cb.asid)
      cb.ttbr = (asidField | table.root, asidField)
      cb.tcr = (table.tcr, table.tcr2)
      cb.mair = (UInt32(truncatingIfNeeded: table.mair), UInt32(truncatingIfNeeded: table.mair >> 32))
    } else {
      cb.vmid = UInt16(cbndx + 1)
      cb.ttbr = (table.root, 0)
      cb.tcr = (table.tcr, 0)
    }
    smmu.cbs[cbndx] = cb
    try writeContextBank(smmu, cbndx)
    try installS2CRs(master, type: .trans, cbndx: UInt8(cbndx))
    return ARMSMMUDomain(
      smmuDevice: smmuDev, cbndx: cbndx, asidOrVMID: stage1 ? cb.asid : cb.vmid, pageTable: table)
  }
}
