import DeviceCore
import Kernel
import MMIO
import Memory

// The DMA remapping core: drivers/iommu/intel/iommu.c (Linux 7.2). Its pr_fmt is "DMAR: ".

/// Policy variants of the VT-d driver, for prototyping kdump handover.
public enum IntelIOMMUVariant: String, CaseIterable, Sendable {
  /// Linux 7.2: a kdump kernel keeps translation on, copies the old root and context tables
  /// and the interrupt remapping table, and defers attaching devices.
  case kernel
  /// The crash kernel disables interrupt remapping and translation as soon as it finds them
  /// on, and starts from fresh tables, as a normal boot does.
  case resetOnKdump = "reset-on-kdump"
  /// The proposal from the kernel list. Shutdown leaves translation on (and the queues and
  /// interrupt remapping as they are). The next kernel, kexec'd or crash, that finds TE set keeps
  /// it set, copies nothing, and installs a fresh empty root table (every root entry not
  /// present) with SRTP, the kdump path's atomic root switch, so every request faults until a
  /// device's default domain is attached; attaches stay deferred to each device's first DMA
  /// API use, as in kdump. Interrupt remapping is handled as by `kernel`.
  case kernelList = "kernel-list"
}

/// The VT-d driver of one kernel: the globals of dmar.c, iommu.c and irq_remapping.c
/// (`dmar_drhd_units`, `dmar_disabled`, `intel_iommu_sm`, ...) and the platform it runs on.
public final class IntelIOMMUDriver {
  /// The driver core this kernel's devices live on. Weak: the core holds this driver (the
  /// initcall's driver and the late shutdown hook), and a strong reference back made a cycle
  /// that kept every handover's kernel, core and unit alive.
  public private(set) weak var core: DriverCore?
  public let kernel: Kernel
  /// The kernel's DMA pool, which page tables and queues come from.
  let dmaAllocator: DMAAllocator?
  public let variant: IntelIOMMUVariant
  /// The DMAR table, as parsed (nil: the firmware has none).
  public let firmware: DMARDescription?
  /// What `ioremap()` of each DRHD's register base reaches.
  let registerBlocks: [UInt64: any WritableRegisterIO]
  // The state below is read on every probe and mapping and changed by plain stores and single
  // updates, never while another access is in progress (none is passed inout): no dynamic
  // exclusivity checks.
  /// Requester IDs of the PCI functions present, in bus order.
  @exclusivity(unchecked) public var pciDevices: [UInt16]
  /// IOAPIC IDs of the platform (MADT).
  @exclusivity(unchecked) public var ioapicIDs: [UInt8]
  /// The PCI functions of display class (`IS_GFX_DEVICE()`).
  @exclusivity(unchecked) public var graphicsDevices: Set<UInt16> = []
  /// `x2apic_supported()` of the CPU.
  @exclusivity(unchecked) public var x2apicSupported = false
  /// The fault event MSI message the x86 vector domain composes (data = vector, address).
  @exclusivity(unchecked) public var faultMSI: (data: UInt32, address: UInt64) = (0x21, 0xfee0_0000)

  // Globals.
  @exclusivity(unchecked) var dmarDisabled: Bool
  @exclusivity(unchecked) var noIOMMU = false
  @exclusivity(unchecked) var intelIOMMUSM = false
  @exclusivity(unchecked) var tbootNoforce = false
  @exclusivity(unchecked) var disableIgfx = false
  @exclusivity(unchecked) var superpage = true
  @exclusivity(unchecked) var forceOn = false
  @exclusivity(unchecked) public internal(set) var units: [DMARDRHDUnit] = []
  @exclusivity(unchecked) var rmrrUnits: [RMRRDescription] = []
  @exclusivity(unchecked) var tableInitResult: Result<Void, DMARError>?
  @exclusivity(unchecked) var eimMode = false
  @exclusivity(unchecked) public internal(set) var irqRemappingEnabled = false
  @exclusivity(unchecked) var loggedIRPreEnabled = false
  // (The machine's binding reads it from another module: an inlinable accessor, since other
  // modules do not see the attribute.)
  /// `intel_iommu_enabled`.
  public internal(set) var enabled: Bool {
    @inlinable get { uncheckedEnabled }
    set { uncheckedEnabled = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedEnabled = false
  /// What intel_iommu_shutdown() ended with, when it did not return normally.
  @exclusivity(unchecked) public internal(set) var shutdownFailure: DMARError?
  let memory: PhysicalMemory
  // The tables below start with room for a few devices: grown one insert at a time, each was
  // reallocated at the second and the fourth.
  /// Devices whose default domain is attached (`info->domain` set).
  @exclusivity(unchecked) public internal(set) var attached = Set<UInt16>(minimumCapacity: 8)
  /// Each attached device's second-level page table root.
  @exclusivity(unchecked) var pageTables = [UInt16: UInt64](minimumCapacity: 8)
  /// The DMA default domain of each IOMMU group (keyed by bus and slot): domain ID, page table.
  @exclusivity(unchecked) var groupDomains = [UInt16: (did: Int, pgd: UInt64)](minimumCapacity: 8)
  /// The IOMMU group number of each PCI slot (bus and device), numbered in order of creation.
  @exclusivity(unchecked) var iommuGroups = [UInt16: Int](minimumCapacity: 8)

  public init(
    core: DriverCore, firmware: DMARDescription?, registerBlocks: [UInt64: any WritableRegisterIO],
    pciDevices: [UInt16] = [], ioapicIDs: [UInt8] = [0], variant: IntelIOMMUVariant = .kernel
  ) {
    self.core = core
    self.kernel = core.kernel
    self.dmaAllocator = core.dmaAllocator
    self.firmware = firmware
    self.registerBlocks = registerBlocks
    self.pciDevices = pciDevices
    self.ioapicIDs = ioapicIDs
    self.variant = variant
    self.memory = core.memory ?? PhysicalMemory()
    dmarDisabled = !core.kernel.context.config.intelIOMMUDefaultOn
    // Sized once for the devices there are (each gets a group and, attached, a page table):
    // growing from empty reallocated and rehashed them several times in every kernel.
    attached.reserveCapacity(pciDevices.count)
    pageTables.reserveCapacity(pciDevices.count)
    groupDomains.reserveCapacity(pciDevices.count)
    iommuGroups.reserveCapacity(pciDevices.count)
  }

  /// `iommu_alloc_pages_node_sz()`: zeroed pages from this kernel's memory.
  func allocPages(_ count: Int) throws(DMARError) -> DMABuffer {
    guard let allocator = dmaAllocator,
      let b = try? allocator.allocate(size: UInt64(count) * 4096)
    else { throw .errno(.ENOMEM) }
    return b
  }

  private func pr(_ level: KernelLogLevel, _ s: @autoclosure () -> String) { kernel.printk(level, "DMAR: \(s())") }

  /// `sm_supported()`.
  func smSupported(_ iommu: IntelIOMMU) -> Bool { intelIOMMUSM && iommu.ecap.smts }

  /// Mirrors intel_iommu_setup(), drivers/iommu/intel/iommu.c (Linux 7.2): each `intel_iommu=`
  /// on the command line, options separated by commas, matched by prefix as strncmp() does.
  /// Also `iommu=off` (no_iommu, arch/x86/kernel/pci-dma.c).
  public func intelIOMMUSetup() {
    for (key, value) in kernel.context.commandLine.parameters {
      if key == "iommu", let v = value, v.split(separator: ",").contains("off") { noIOMMU = true }
      guard key == "intel_iommu", let value else { continue }
      var rest = Substring(value)
      while !rest.isEmpty {
        if rest.hasPrefix("on") {
          dmarDisabled = false
          pr(.info, "IOMMU enabled")
        } else if rest.hasPrefix("off") {
          dmarDisabled = true
          pr(.info, "IOMMU disabled")
        } else if rest.hasPrefix("igfx_off") {
          disableIgfx = true
          pr(.info, "Disable GFX device mapping")
        } else if rest.hasPrefix("forcedac") {
          pr(.warning, "intel_iommu=forcedac deprecated; use iommu.forcedac instead")
        } else if rest.hasPrefix("strict") {
          pr(.warning, "intel_iommu=strict deprecated; use iommu.strict=1 instead")
        } else if rest.hasPrefix("sp_off") {
          pr(.info, "Disable supported super page")
          superpage = false
        } else if rest.hasPrefix("sm_on") {
          pr(.info, "Enable scalable mode if hardware supports")
          intelIOMMUSM = true
        } else if rest.hasPrefix("sm_off") {
          pr(.info, "Scalable mode is disallowed")
          intelIOMMUSM = false
        } else if rest.hasPrefix("tboot_noforce") {
          pr(.info, "Intel-IOMMU: not forcing on after tboot. This could expose security risk for tboot")
          tbootNoforce = true
        } else {
          kernel.printk(.notice, "DMAR: Unknown option - '\(rest)'")
        }
        rest = rest.drop { $0 != "," }.drop { $0 == "," }
      }
    }
  }

  /// Mirrors init_translation_status(), drivers/iommu/intel/iommu.c (Linux 7.2): TES found set marks the unit TRANS_PRE_ENABLED.
  func initTranslationStatus(_ iommu: IntelIOMMU) throws(DMARError) {
    if try iommu.readl(DMARReg.GSTS) & DMAGcmd.TE != 0 { iommu.flags.insert(.transPreEnabled) }
  }

  /// Mirrors iommu_enable_translation(), drivers/iommu/intel/iommu.c (Linux 7.2): TE in the GCMD copy, written, then wait for TES.
  func iommuEnableTranslation(_ iommu: IntelIOMMU) throws(DMARError) {
    iommu.gcmd |= DMAGcmd.TE
    try iommu.writel(iommu.gcmd, DMARReg.GCMD)
    try iommu.waitOp(DMARReg.GSTS, "GSTS.TES") { $0 & DMAGcmd.TE != 0 }
  }

  /// Mirrors iommu_disable_translation(), drivers/iommu/intel/iommu.c (Linux 7.2): TE cleared in the copy, written, wait for TES = 0.
  /// (The gfx-dedicated iommu_skip_te_disable quirk does not apply to the units modelled.)
  func iommuDisableTranslation(_ iommu: IntelIOMMU) throws(DMARError) {
    iommu.gcmd &= ~DMAGcmd.TE
    try iommu.writel(iommu.gcmd, DMARReg.GCMD)
    try iommu.waitOp(DMARReg.GSTS, "GSTS.TES clear") { $0 & DMAGcmd.TE == 0 }
  }

  /// Mirrors iommu_disable_protect_mem_regions(), drivers/iommu/intel/iommu.c (Linux 7.2): only with CAP.PLMR or PHMR; clear PMEN.EPM
  /// and wait for PRS to clear.
  func iommuDisableProtectMemRegions(_ iommu: IntelIOMMU) throws(DMARError) {
    guard iommu.cap.plmr || iommu.cap.phmr else { return }
    let pmen = try iommu.readl(DMARReg.PMEN) & ~DMA_PMEN_EPM
    try iommu.writel(pmen, DMARReg.PMEN)
    try iommu.waitOp(DMARReg.PMEN, "PMEN.PRS clear") { $0 & DMA_PMEN_PRS == 0 }
  }

  /// Mirrors iommu_flush_write_buffer(), drivers/iommu/intel/iommu.c (Linux 7.2): only with CAP.RWBF; WBF, wait for WBFS = 0.
  func iommuFlushWriteBuffer(_ iommu: IntelIOMMU) throws(DMARError) {
    guard iommu.cap.rwbf else { return }
    try iommu.writel(iommu.gcmd | DMAGcmd.WBF, DMARReg.GCMD)
    try iommu.waitOp(DMARReg.GSTS, "GSTS.WBFS clear") { $0 & DMAGcmd.WBF == 0 }
  }

  /// Mirrors iommu_alloc_root_entry(), drivers/iommu/intel/iommu.c (Linux 7.2).
  func iommuAllocRootEntry(_ iommu: IntelIOMMU) throws(DMARError) {
    do { iommu.rootEntry = try allocPages(1) } catch {
      pr(.err, "Allocating root entry for \(iommu.name) failed")
      throw error
    }
  }

  /// Mirrors iommu_set_root_entry(), drivers/iommu/intel/iommu.c (Linux 7.2): RTADDR (SMT in scalable mode), GCMD copy | SRTP, wait for
  /// RTPS; then, unless CAP.ESRTPS, global context-cache, PASID-cache (scalable mode) and IOTLB
  /// invalidation.
  func iommuSetRootEntry(_ iommu: IntelIOMMU) throws(DMARError) {
    guard let root = iommu.rootEntry else { return }
    var addr = root.address
    if smSupported(iommu) { addr |= DMA_RTADDR_SMT }
    try iommu.writeq(addr, DMARReg.RTADDR)
    try iommu.writel(iommu.gcmd | DMAGcmd.SRTP, DMARReg.GCMD)
    try iommu.waitOp(DMARReg.GSTS, "GSTS.RTPS") { $0 & DMAGcmd.SRTP != 0 }
    if iommu.cap.esrtps { return }
    try flushContext(iommu, did: 0, sid: 0, granularity: 1)
    // qi_flush_pasid_cache(iommu, 0, QI_PC_GLOBAL, 0) in scalable mode.
    if smSupported(iommu) { try iommu.qiSubmitIgnoringErrno([QIDesc(3 << 4 | 7)]) }
    try flushIOTLB(iommu, did: 0, granularity: 1)
  }

  /// `iommu->flush.flush_context`: queued (qi_flush_context) or register-based
  /// (__iommu_flush_context: CCMD with ICC, waited for with dmar_readq).
  func flushContext(_ iommu: IntelIOMMU, did: UInt16, sid: UInt16, granularity: UInt64) throws(DMARError) {
    if iommu.qi != nil {
      try iommu.qiFlushContext(did: did, sid: sid, fm: 0, granularity: granularity)
      return
    }
    var val = granularity << 61 | 1 << 63
    if granularity >= 2 { val |= UInt64(did) }
    if granularity == 3 { val |= UInt64(sid) << 16 }
    try iommu.writeq(val, 0x28)
    try iommu.waitOp(0x28, "CCMD.ICC clear", width: .qword) { $0 & 1 << 63 == 0 }
  }

  /// `iommu->flush.flush_iotlb`: queued (qi_flush_iotlb) or register-based
  /// (__iommu_flush_iotlb: the IOTLB register at ECAP.IRO + 8 with IVT and drain bits).
  func flushIOTLB(_ iommu: IntelIOMMU, did: UInt16, granularity: UInt64) throws(DMARError) {
    if iommu.qi != nil {
      try iommu.qiFlushIOTLB(did: did, granularity: granularity)
      return
    }
    var val = granularity << 60 | 1 << 63
    if granularity >= 2 { val |= UInt64(did) << 32 }
    if iommu.cap.readDrain { val |= 1 << 49 }
    if iommu.cap.writeDrain { val |= 1 << 48 }
    let offset = iommu.ecap.iotlbOffset + 8
    try iommu.writeq(val, offset)
    let done = try iommu.waitOp(offset, "IOTLB.IVT clear", width: .qword) { $0 & 1 << 63 == 0 }
    if (done >> 57) & 3 == 0 { pr(.err, "Flush IOTLB failed") }
  }

  /// Mirrors intel_iommu_init_qi(), drivers/iommu/intel/iommu.c (Linux 7.2): clears old faults and a QI left on (unless IR set QI up
  /// already), then queued invalidation, else register-based.
  func intelIOMMUInitQI(_ iommu: IntelIOMMU) throws(DMARError) {
    if iommu.qi == nil {
      try iommu.dmarFault()
      try iommu.dmarDisableQI()
    }
    do {
      try iommu.dmarEnableQI()
      pr(.info, "\(iommu.name): Using Queued invalidation")
    } catch {
      if case .fatal = error { throw error }
      pr(.info, "\(iommu.name): Using Register based invalidation")
    }
  }
}
