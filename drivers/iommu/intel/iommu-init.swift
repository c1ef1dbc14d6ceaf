import Kernel
import MMIO

// Boot and shutdown of the remapping units: init_dmars(), intel_iommu_init(),
// intel_iommu_shutdown() and the sysfs attributes of drivers/iommu/intel/iommu.c (Linux 7.2).

extension IntelIOMMUDriver {
  private func pr(_ level: KernelLogLevel, _ s: @autoclosure () -> String) { kernel.printk(level, "DMAR: \(s())") }

  /// Mirrors init_dmars(), drivers/iommu/intel/iommu.c (Linux 7.2). Per unit: queued
  /// invalidation, translation status, and the translation-found-on policy (outside kdump:
  /// disable with a warning; in kdump: copy the old tables, or disable when the copy fails;
  /// `kernel-list`, kdump or not: keep TE and leave the new root table empty); then every root
  /// table is installed (with TE still set, SRTP switches the live root pointer atomically) and
  /// every fault interrupt set up.
  func initDMARs() throws(DMARError) {
    for unit in units {
      guard let iommu = unit.iommu else { continue }
      if unit.ignored {
        try iommuDisableTranslation(iommu)
        continue
      }
      try intelIOMMUInitQI(iommu)
      try initTranslationStatus(iommu)
      if iommu.translationPreEnabled && !kernel.isKdumpKernel && variant != .kernelList {
        try iommuDisableTranslation(iommu)
        iommu.flags.remove(.transPreEnabled)
        pr(.warning, "Translation was enabled for \(iommu.name) but we are not in kdump mode")
      } else if iommu.translationPreEnabled && variant == .resetOnKdump {
        try iommuDisableTranslation(iommu)
        iommu.flags.remove(.transPreEnabled)
        pr(.warning, "Translation was enabled for \(iommu.name) - disabling it in the kdump kernel (reset-on-kdump)")
      }
      try iommuAllocRootEntry(iommu)
      if iommu.translationPreEnabled && variant == .kernelList {
        pr(.info, "Translation already enabled - blocking DMA with an empty root table for \(iommu.name)")
        do { try checkRootTableMode(iommu) } catch {
          if case .fatal = error { throw error }
          pr(.err, "Cannot switch root table of \(iommu.name) with translation on, disabling translation")
          try iommuDisableTranslation(iommu)
          iommu.flags.remove(.transPreEnabled)
        }
      } else if iommu.translationPreEnabled {
        pr(.info, "Translation already enabled - trying to copy translation structures")
        do {
          try copyTranslationTables(iommu)
          pr(.info, "Copied translation tables from previous kernel for \(iommu.name)")
        } catch {
          if case .fatal = error { throw error }
          pr(.err, "Failed to copy translation tables from previous kernel for \(iommu.name)")
          try iommuDisableTranslation(iommu)
          iommu.flags.remove(.transPreEnabled)
        }
      }
    }
    for unit in units where !unit.ignored {
      guard let iommu = unit.iommu else { continue }
      try iommuFlushWriteBuffer(iommu)
      try iommuSetRootEntry(iommu)
    }
    for unit in units {
      guard let iommu = unit.iommu else { continue }
      if unit.ignored {
        if forceOn { try iommuDisableProtectMemRegions(iommu) }
        continue
      }
      try iommuFlushWriteBuffer(iommu)
      try iommu.dmarSetInterrupt()
    }
  }

  /// The `kernel-list` check before the empty root table replaces a live one: RTADDR's SMT bit
  /// must match the mode this kernel uses (it can only change with translation off), as
  /// copy_translation_tables() requires; -EINVAL otherwise.
  func checkRootTableMode(_ iommu: IntelIOMMU) throws(DMARError) {
    let rtaddr = try iommu.readq(DMARReg.RTADDR)
    guard (rtaddr & DMA_RTADDR_SMT != 0) == smSupported(iommu) else { throw .errno(.EINVAL) }
  }

  /// Mirrors init_no_remapping_devices(), drivers/iommu/intel/iommu.c (Linux 7.2): a unit without INCLUDE_PCI_ALL whose scope holds no
  /// present device is ignored; one whose devices are all graphics is gfx-dedicated, and
  /// ignored with `intel_iommu=igfx_off`.
  func initNoRemappingDevices() {
    for unit in units where !unit.includeAll && unit.devices.isEmpty { unit.ignored = true }
    for unit in units where !unit.ignored && !unit.includeAll {
      guard unit.devices.allSatisfy(graphicsDevices.contains) else { continue }
      unit.gfxDedicated = true
      if disableIgfx { unit.ignored = true }
    }
  }

  /// Mirrors intel_iommu_init(), drivers/iommu/intel/iommu.c (Linux 7.2): with the IOMMU off
  /// (`intel_iommu=off`, `iommu=off`) every unit's translation is switched off, even one a
  /// kexec'd-from kernel left on; otherwise init_dmars(), then translation is enabled on each
  /// unit that did not inherit it, and the protected memory regions are disabled.
  public func intelIOMMUInit() throws(DMARError) {
    do { try dmarTableInit() } catch {
      // intel_iommu_init() returns its initial -ENODEV whatever the table parse said.
      if case .fatal = error { throw error }
      throw .errno(.ENODEV)
    }
    dmarDevScopeInit()
    if noIOMMU || dmarDisabled {
      if tbootNoforce {
        for unit in units { if let iommu = unit.iommu { try iommuDisableProtectMemRegions(iommu) } }
      }
      for unit in units { if let iommu = unit.iommu { try iommuDisableTranslation(iommu) } }
      throw .errno(.ENODEV)
    }
    if rmrrUnits.isEmpty { pr(.info, "No RMRR found") }
    if firmware?.atsrCount ?? 0 == 0 { pr(.info, "No ATSR found") }
    if firmware?.satcCount ?? 0 == 0 { pr(.info, "No SATC found") }
    initNoRemappingDevices()
    do { try initDMARs() } catch {
      if case .fatal = error { throw error }
      pr(.err, "Initialization failed")
      throw error
    }
    for unit in units where !unit.ignored {
      guard let iommu = unit.iommu else { continue }
      try attachDevices(iommu, unit: unit)
    }
    for unit in units {
      guard let iommu = unit.iommu else { continue }
      if !unit.ignored && !iommu.translationPreEnabled { try iommuEnableTranslation(iommu) }
      try iommuDisableProtectMemRegions(iommu)
    }
    pr(.info, "Intel(R) Virtualization Technology for Directed I/O")
    enabled = true
  }

  /// Mirrors intel_iommu_shutdown(), drivers/iommu/intel/iommu.c (Linux 7.2): the x86
  /// platform's iommu_shutdown, run by native_machine_shutdown() after device_shutdown() on
  /// reboot, power-off and kexec, never on the crash path. For every unit: protected memory
  /// regions off, then translation off (queued invalidation and interrupt remapping stay on).
  /// `kernel-list` leaves translation on: the next kernel switches to blocking tables itself.
  public func intelIOMMUShutdown() throws(DMARError) {
    if noIOMMU || dmarDisabled { return }
    for unit in units {
      guard let iommu = unit.iommu else { continue }
      try iommuDisableProtectMemRegions(iommu)
      if variant == .kernelList {
        pr(.info, "\(iommu.name): leaving translation enabled for the next kernel")
        continue
      }
      try iommuDisableTranslation(iommu)
    }
  }

  /// The fault event interrupt of unit `unit` firing: dmar_fault() runs as its handler.
  public func faultInterrupt(unit: Int = 0) throws(DMARError) {
    guard units.indices.contains(unit), let iommu = units[unit].iommu else { throw .errno(.ENODEV) }
    try iommu.dmarFault()
  }

  /// Mirrors version_show(), drivers/iommu/intel/iommu.c (Linux 7.2): `/sys/class/iommu/dmarN/intel-iommu/version` reads VER.
  public func sysfsVersion(unit: Int = 0) throws(DMARError) -> String {
    guard units.indices.contains(unit), let iommu = units[unit].iommu else { throw .errno(.ENODEV) }
    let ver = try iommu.readl(DMARReg.VER)
    return "\(ver >> 4 & 0xf):\(ver & 0xf)"
  }

  /// The other `intel-iommu` sysfs attributes (address, cap, ecap, domains_supported,
  /// domains_used), which print values the driver cached and touch no register.
  public func sysfsAttributes(unit: Int = 0) -> [String: String] {
    guard units.indices.contains(unit), let iommu = units[unit].iommu else { return [:] }
    return [
      "address": String(iommu.regPhys, radix: 16), "cap": String(iommu.cap.raw, radix: 16),
      "ecap": String(iommu.ecap.raw, radix: 16), "domains_supported": "\(iommu.cap.ndoms)",
      "domains_used": "\(iommu.domainIDs.count)",
    ]
  }
}
