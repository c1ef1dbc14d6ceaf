import DeviceCore
import Kernel
import MMIO

extension ARMSMMUv3Device {
  /// Mirrors arm_smmu_write_reg_sync(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// write, then poll the ack register until it reads exactly the value (1 µs, 1 s).
  func writeRegSync(_ value: UInt32, _ register: Int, ack: Int) throws(Errno) {
    try writel(value, register)
    if let error = try pollRegister(ack, until: { $0 == value }).error { throw error }
  }

  /// Mirrors arm_smmu_update_gbpa(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// wait for UPDATE=0, write the new value with UPDATE, wait for UPDATE=0 again.
  func updateGBPA(set: UInt32, clear: UInt32) throws(Errno) {
    let idle = try pollRegister(Reg.GBPA) { $0 & GBPA.UPDATE == 0 }
    if let error = idle.error { throw error }
    let reg = (idle.value & ~clear) | set
    try writel(reg | GBPA.UPDATE, Reg.GBPA)
    if let error = try pollRegister(Reg.GBPA, until: { $0 & GBPA.UPDATE == 0 }).error {
      dev.err("GBPA not responding to update")
      throw error
    }
  }

  /// Mirrors arm_smmu_device_disable(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// CR0 := 0 through the ack handshake.
  func deviceDisable() throws(Errno) {
    do {
      try writeRegSync(0, Reg.CR0, ack: Reg.CR0ACK)
    } catch {
      dev.err("failed to clear cr0")
      throw error
    }
  }

  /// Mirrors arm_smmu_write_strtab(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  func writeStrtab() throws(Errno) {
    var reg: UInt32 = 0
    let dma: UInt64
    if features.contains(.twoLevelStrtab), let l1 = strtab.l1 {
      reg[bits: Strtab.CFG_FMT] = Strtab.CFG_FMT_2LVL
      reg[bits: Strtab.CFG_LOG2SIZE] =
        UInt32(ilog2(UInt64(strtab.numL1Entries))) + Strtab.SPLIT
      reg[bits: Strtab.CFG_SPLIT] = Strtab.SPLIT
      dma = l1.address
    } else {
      reg[bits: Strtab.CFG_FMT] = Strtab.CFG_FMT_LINEAR
      reg[bits: Strtab.CFG_LOG2SIZE] = sidBits
      dma = strtab.linear?.address ?? 0
    }
    try writeq((dma & Strtab.BASE_ADDR_MASK) | Strtab.BASE_RA, Reg.STRTAB_BASE)
    try writel(reg, Reg.STRTAB_BASE_CFG)
  }

  /// Mirrors arm_smmu_setup_msis(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// clears the MSI address registers. Platform MSIs are not modelled: with FEAT_MSI the driver
  /// finds no MSI domain and falls back to wired interrupts.
  func setupMSIs() throws(Errno) {
    try writeq(0, Reg.GERROR_IRQ_CFG0)
    try writeq(0, Reg.EVTQ_IRQ_CFG0)
    if features.contains(.pri) { try writeq(0, Reg.PRIQ_IRQ_CFG0) }
    guard features.contains(.msi) else { return }
    dev.info("msi_domain absent - falling back to wired irqs")
  }

  /// Mirrors arm_smmu_setup_unique_irqs(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  func setupUniqueIRQs() throws(Errno) {
    try setupMSIs()
    if !evtqIRQ { dev.warn("no evtq irq - events will not be reported!") }
    if !gerrIRQ { dev.warn("no gerr irq - errors will not be reported!") }
    if features.contains(.pri) && !priqIRQ { dev.warn("no priq irq - PRI will be broken") }
  }

  /// Mirrors arm_smmu_setup_irqs(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// IRQ_CTRL := 0 with ack, request the lines, then IRQ_CTRL := EVTQ|GERROR(|PRIQ) with ack
  /// (a failure there only warns).
  func setupIRQs() throws(Errno) {
    do {
      try writeRegSync(0, Reg.IRQ_CTRL, ack: Reg.IRQ_CTRLACK)
    } catch {
      dev.err("failed to disable irqs")
      throw error
    }
    if !combinedIRQ { try setupUniqueIRQs() }
    var flags = IRQCtrl.EVTQ_IRQEN | IRQCtrl.GERROR_IRQEN
    if features.contains(.pri) { flags |= IRQCtrl.PRIQ_IRQEN }
    do {
      try writeRegSync(flags, Reg.IRQ_CTRL, ack: Reg.IRQ_CTRLACK)
    } catch {
      dev.warn("failed to enable irqs")
    }
  }

  /// Enables `enables` in CR0 with ack, logging `message` on failure.
  private func enable(_ enables: UInt32, or message: String) throws(Errno) {
    do {
      try writeRegSync(enables, Reg.CR0, ack: Reg.CR0ACK)
    } catch {
      dev.err(message)
      throw error
    }
  }

  /// Mirrors arm_smmu_device_reset(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// abort through GBPA if found enabled, disable, program CR1/CR2/stream table, then enable the
  /// command queue, invalidate, the event queue, PRI, ATS check, IRQs and SMMUEN last (a kdump
  /// kernel leaves EVTQ and PRIQ off). The kernel-list variant insists on GBPA.ABORT first.
  func deviceReset() throws(Errno) {
    if variant == .kdumpAdopt, try kdumpAdoptReset() { return }
    let cr0 = try readl(Reg.CR0)
    if cr0 & CR0.SMMUEN != 0 {
      if variant == .kernelList {
        try kernelListPrepareSwitch()
      } else {
        dev.warn("SMMU currently enabled! Resetting...")
        try? updateGBPA(set: GBPA.ABORT, clear: 0)
      }
    }
    // With GBPA.ABORT set, this write is the switch: every transaction aborts from here on.
    try deviceDisable()

    var cr1: UInt32 = 0
    cr1[bits: CR1.TABLE_SH] = CR1.SH_ISH
    cr1[bits: CR1.TABLE_OC] = CR1.CACHE_WB
    cr1[bits: CR1.TABLE_IC] = CR1.CACHE_WB
    cr1[bits: CR1.QUEUE_SH] = CR1.SH_ISH
    cr1[bits: CR1.QUEUE_OC] = CR1.CACHE_WB
    cr1[bits: CR1.QUEUE_IC] = CR1.CACHE_WB
    try writel(cr1, Reg.CR1)
    try writel(CR2.PTM | CR2.RECINVSID | (features.contains(.e2h) ? CR2.E2H : 0), Reg.CR2)

    try writeStrtab()
    try enableCommandQueue()

    // Invalidate any cached configuration and stale TLB entries (errors are ignored, as there).
    try? cmdqIssueCmdWithSync(.cfgiAll)
    if features.contains(.hyp) { try? cmdqIssueCmdWithSync(.tlbiEL2All) }
    try? cmdqIssueCmdWithSync(.tlbiNSNHAll)

    var enables = CR0.CMDQEN
    try writeq(evtq.qBase, Reg.EVTQ_BASE)
    try writel(evtq.prod, evtq.prodRegister)
    try writel(evtq.cons, evtq.consRegister)
    enables |= CR0.EVTQEN
    try enable(enables, or: "failed to enable event queue")

    if features.contains(.pri) {
      try writeq(priq.qBase, Reg.PRIQ_BASE)
      try writel(priq.prod, priq.prodRegister)
      try writel(priq.cons, priq.consRegister)
      enables |= CR0.PRIQEN
      try enable(enables, or: "failed to enable PRI queue")
    }
    if features.contains(.ats) {
      enables |= CR0.ATSCHK
      try enable(enables, or: "failed to enable ATS check")
    }
    do {
      try setupIRQs()
    } catch {
      dev.err("failed to setup irqs")
      throw error
    }
    // Stray DMA must not flood the crash kernel with events or page requests.
    if isKdumpKernel { enables &= ~(CR0.EVTQEN | CR0.PRIQEN) }
    enables |= CR0.SMMUEN
    try enable(enables, or: "failed to enable SMMU interface")
  }

  /// CMDQ_BASE, PROD, CONS, then CMDQEN with ack (steps of arm_smmu_device_reset()).
  func enableCommandQueue(keeping kept: UInt32 = 0) throws(Errno) {
    try writeq(cmdq.qBase, Reg.CMDQ_BASE)
    try writel(cmdq.prod, Reg.CMDQ_PROD)
    try writel(cmdq.cons, Reg.CMDQ_CONS)
    try enable(kept | CR0.CMDQEN, or: "failed to enable command queue")
  }
}
