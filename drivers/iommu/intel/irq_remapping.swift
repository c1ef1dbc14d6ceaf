import Kernel
import MMIO
import Memory

// Interrupt remapping on VT-d: drivers/iommu/intel/irq_remapping.c (Linux 7.2). Its pr_fmt is
// "DMAR-IR: ".

/// `struct ir_table`: 65536 IRTEs of 16 bytes, and the allocation bitmap.
struct IRTable {
  var base: DMABuffer
  var used: Set<Int> = []
}

/// An interrupt remapping table entry (`struct irte`), 128 bits.
public struct IRTE: Sendable, Hashable {
  public var low: UInt64
  public var high: UInt64
  public init(low: UInt64, high: UInt64 = 0) {
    self.low = low
    self.high = high
  }
  /// A present, remapped-format entry for `vector` delivered to APIC `destination`.
  public static func remapped(vector: UInt8, destination: UInt32, sourceID: UInt16) -> IRTE {
    IRTE(low: 1 | UInt64(vector) << 16 | UInt64(destination) << 40, high: UInt64(sourceID) | 1 << 18)
  }
  public var present: Bool { low & 1 != 0 }
}

extension IntelIOMMUDriver {
  private func pr(_ level: KernelLogLevel, _ s: @autoclosure () -> String) { kernel.printk(level, "DMAR-IR: \(s())") }

  /// Mirrors intel_prepare_irq_remapping(), drivers/iommu/intel/irq_remapping.c (Linux 7.2):
  /// parses the DMAR table, requires INTR_REMAP, an IR unit for every IOAPIC and ECAP.IR on
  /// every unit, picks xapic or x2apic mode and sets up each unit early.
  public func intelPrepareIRQRemapping() throws(DMARError) {
    do { try dmarTableInit() } catch { throw .errno(.ENODEV) }
    guard let table = firmware, table.flags & 1 != 0 else { throw .errno(.ENODEV) }
    guard parseIOAPICsUnderIR() else {
      pr(.info, "Not enabling interrupt remapping")
      throw .errno(.ENODEV)
    }
    for unit in units where !(unit.iommu?.ecap.irSupport ?? false) { throw .errno(.ENODEV) }
    var eim = false
    if x2apicSupported {
      eim = table.flags & 2 == 0
      if !eim { pr(.info, "x2apic is disabled because BIOS sets x2apic opt out bit.") }
    }
    for unit in units {
      if let iommu = unit.iommu, eim && !iommu.ecap.eimSupport {
        pr(.info, "\(iommu.name) does not support EIM")
        eim = false
      }
    }
    eimMode = eim
    if eim { pr(.info, "Queued invalidation will be enabled to support x2apic and Intr-remapping.") }
    for unit in units {
      guard let iommu = unit.iommu else { continue }
      do { try intelSetupIRQRemapping(iommu) } catch {
        if case .fatal = error { throw error }
        pr(.err, "Failed to setup irq remapping for \(iommu.name)")
        throw .errno(.ENODEV)
      }
    }
  }

  /// Mirrors parse_ioapics_under_ir(), drivers/iommu/intel/irq_remapping.c (Linux 7.2) and ir_parse_one_ioapic_scope(): every IOAPIC of the
  /// platform must sit under an IR unit's IOAPIC scope.
  func parseIOAPICsUnderIR() -> Bool {
    // `ir_ioapic[]`: a handful of entries, searched (a set cost more to build than to search).
    var found: [UInt8] = []
    for unit in units {
      guard let iommu = unit.iommu, iommu.ecap.irSupport else { continue }
      for s in unit.scopes where s.kind == .ioapic {
        pr(
          .info,
          "IOAPIC id \(s.enumerationID) under DRHD base  \(hex(unit.regBaseAddr)) IOMMU \(iommu.seqID)")
        found.append(s.enumerationID)
      }
    }
    for id in ioapicIDs where !found.contains(id) {
      pr(.err, "[Firmware Bug]: ioapic \(id) has no mapping iommu, interrupt remapping will be disabled")
      return false
    }
    return true
  }

  /// Mirrors intel_setup_irq_remapping(), drivers/iommu/intel/irq_remapping.c (Linux 7.2).
  func intelSetupIRQRemapping(_ iommu: IntelIOMMU) throws(DMARError) {
    if iommu.irTable != nil { return }
    iommu.irTable = IRTable(base: try allocPages(INTR_REMAP_TABLE_ENTRIES * 16 / 4096))
    if iommu.qi == nil {
      try iommu.dmarFault()
      try iommu.dmarDisableQI()
    }
    do { try iommu.dmarEnableQI() } catch {
      if case .fatal = error { throw error }
      pr(.err, "Failed to enable queued invalidation")
      throw error
    }
    try initIRStatus(iommu)
    if iommu.flags.contains(.irqRemapPreEnabled) {
      if !kernel.isKdumpKernel || variant == .resetOnKdump {
        if kernel.isKdumpKernel {
          pr(.info, "IRQ remapping was enabled on \(iommu.name) - disabling it in the kdump kernel (reset-on-kdump)")
        } else if !loggedIRPreEnabled {
          pr(.info, "IRQ remapping was enabled on \(iommu.name) but we are not in kdump mode")
          loggedIRPreEnabled = true
        }
        iommu.flags.remove(.irqRemapPreEnabled)
        try iommuDisableIRQRemapping(iommu)
      } else {
        do {
          try iommuLoadOldIRTE(iommu)
          pr(.info, "Copied IR table for \(iommu.name) from previous kernel")
        } catch {
          if case .fatal = error { throw error }
          pr(.err, "Failed to copy IR table for \(iommu.name) from previous kernel")
        }
      }
    }
    try iommuSetIRQRemapping(iommu, x2apic: eimMode)
  }

  /// Mirrors init_ir_status(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): IRES found set marks the unit IRQ_REMAP_PRE_ENABLED.
  func initIRStatus(_ iommu: IntelIOMMU) throws(DMARError) {
    if try iommu.readl(DMARReg.GSTS) & DMAGcmd.IRE != 0 { iommu.flags.insert(.irqRemapPreEnabled) }
  }

  /// Mirrors iommu_load_old_irte(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): the old table must have our size (IRTA.S = 0xf); its
  /// entries are copied and the present ones marked allocated.
  func iommuLoadOldIRTE(_ iommu: IntelIOMMU) throws(DMARError) {
    let irta = try iommu.readq(DMARReg.IRTA)
    guard irta & 0xf == INTR_REMAP_TABLE_REG_SIZE, var table = iommu.irTable else { throw .errno(.EINVAL) }
    let old = irta & ~0xfff
    let size = INTR_REMAP_TABLE_ENTRIES * 16
    do {
      for page in stride(from: 0, to: size, by: 4096) {
        // An all-zero page holds no present entry: nothing to copy (checked without copying).
        guard try !memory.isZero(old + UInt64(page), length: 4096) else { continue }
        let bytes = try memory.read(old + UInt64(page), length: 4096)
        try memory.write(bytes, at: table.base.address + UInt64(page))
        for i in stride(from: 0, to: 4096, by: 16) where bytes[i] & 1 != 0 { table.used.insert((page + i) / 16) }
      }
    } catch {
      throw .errno(.ENOMEM)
    }
    iommu.irTable = table
  }

  /// Mirrors iommu_set_irq_remapping(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): IRTA := table | mode | size, SIRTP, wait IRTPS, then a
  /// global interrupt entry cache invalidation unless CAP.ESIRTPS.
  func iommuSetIRQRemapping(_ iommu: IntelIOMMU, x2apic: Bool) throws(DMARError) {
    guard let table = iommu.irTable else { return }
    try iommu.writeq(table.base.address | (x2apic ? 1 << 11 : 0) | INTR_REMAP_TABLE_REG_SIZE, DMARReg.IRTA)
    try iommu.writel(iommu.gcmd | DMAGcmd.SIRTP, DMARReg.GCMD)
    try iommu.waitOp(DMARReg.GSTS, "GSTS.IRTPS") { $0 & DMAGcmd.SIRTP != 0 }
    if !iommu.cap.raw[bit: 62] { try iommu.qiFlushIEC(index: nil) }
  }

  /// Mirrors iommu_enable_irq_remapping(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): IRE, wait IRES; then block compatibility-format
  /// interrupts (clear CFI) if CFIS is set.
  func iommuEnableIRQRemapping(_ iommu: IntelIOMMU) throws(DMARError) {
    iommu.gcmd |= DMAGcmd.IRE
    try iommu.writel(iommu.gcmd, DMARReg.GCMD)
    var sts = try iommu.waitOp(DMARReg.GSTS, "GSTS.IRES") { $0 & DMAGcmd.IRE != 0 }
    if sts & DMAGcmd.CFI != 0 {
      iommu.gcmd &= ~DMAGcmd.CFI
      try iommu.writel(iommu.gcmd, DMARReg.GCMD)
      sts = try iommu.waitOp(DMARReg.GSTS, "GSTS.CFIS clear") { $0 & DMAGcmd.CFI == 0 }
    }
    if sts & DMAGcmd.CFI != 0 {
      kernel.printk(.warning, "Compatibility-format IRQs enabled despite intr remapping;")
    }
  }

  /// Mirrors iommu_disable_irq_remapping(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): global IEC flush, then IRE off if IRES is set.
  func iommuDisableIRQRemapping(_ iommu: IntelIOMMU) throws(DMARError) {
    guard iommu.ecap.irSupport else { return }
    if !iommu.cap.raw[bit: 62] { try iommu.qiFlushIEC(index: nil) }
    guard try iommu.readl(DMARReg.GSTS) & DMAGcmd.IRE != 0 else { return }
    iommu.gcmd &= ~DMAGcmd.IRE
    try iommu.writel(iommu.gcmd, DMARReg.GCMD)
    try iommu.waitOp(DMARReg.GSTS, "GSTS.IRES clear") { $0 & DMAGcmd.IRE == 0 }
  }

  /// Mirrors intel_enable_irq_remapping(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): IRE on every unit that did not keep it from the
  /// previous kernel.
  public func intelEnableIRQRemapping() throws(DMARError) {
    var setup = false
    for unit in units {
      guard let iommu = unit.iommu else { continue }
      if !iommu.flags.contains(.irqRemapPreEnabled) { try iommuEnableIRQRemapping(iommu) }
      setup = true
    }
    guard setup else { throw .errno(.ENODEV) }
    irqRemappingEnabled = true
    pr(.info, "Enabled IRQ remapping in \(eimMode ? "x2apic" : "xapic") mode")
  }

  /// Mirrors modify_irte(), drivers/iommu/intel/irq_remapping.c (Linux 7.2): writes IRTE `index` of the first IR unit and flushes it from the
  /// interrupt entry cache. The interrupt layer (IOAPIC pins, MSIs) calls it; the model's
  /// callers replay the activations of a boot.
  public func modifyIRTE(index: Int, _ irte: IRTE, unit: Int = 0) throws(DMARError) {
    guard units.indices.contains(unit), let iommu = units[unit].iommu, var table = iommu.irTable else {
      throw .errno(.ENODEV)
    }
    let at = table.base.address + UInt64(index * 16)
    do {
      try memory.write64(irte.low, at: at)
      try memory.write64(irte.high, at: at + 8)
    } catch { throw .errno(.EINVAL) }
    table.used.insert(index)
    iommu.irTable = table
    try iommu.qiFlushIEC(index: UInt16(index))
  }
}
