import DeviceCore
import Kernel
import MMIO

/// `arm_smmu_driver` (drivers/iommu/arm/arm-smmu/arm-smmu.c, Linux 7.2): the platform driver for
/// SMMUv1/v2 implementations, matching the device-tree compatibles of `arm_smmu_of_match`.
///
/// One driver object binds every SMMU; each SMMU's state (`struct arm_smmu_device`) is the
/// device's driver data. The module parameters are read from the kernel's context at probe:
/// `arm-smmu.disable_bypass` (default `CONFIG_ARM_SMMU_DISABLE_BYPASS_BY_DEFAULT`) and
/// `arm-smmu.force_stage`.
public final class ARMSMMUDriver: DeviceDriver {
  public let name = "arm-smmu"
  public let bus = BusType.platform
  public let variant: ARMSMMUVariant
  /// `using_legacy_binding` / `using_generic_binding`: module-wide, set by the first probe.
  var usingLegacyBinding = false
  var usingGenericBinding = false

  public init(variant: ARMSMMUVariant = .kernel) {
    self.variant = variant
  }

  /// `arm_smmu_of_match`, with each entry's `arm_smmu_match_data`.
  static let ofMatch: [(compatible: String, version: ARMSMMUArchVersion, model: ARMSMMUImplementation)] = [
    ("arm,smmu-v1", .v1, .genericSMMU),
    ("arm,smmu-v2", .v2, .genericSMMU),
    ("arm,mmu-400", .v1, .genericSMMU),
    ("arm,mmu-401", .v1_64K, .genericSMMU),
    ("arm,mmu-500", .v2, .armMMU500),
    ("cavium,smmu-v2", .v2, .caviumSMMUv2),
    ("nvidia,smmu-500", .v2, .armMMU500),
    ("qcom,smmu-v2", .v2, .qcomSMMUv2),
  ]

  /// The OF match table, then the driver name IORT-created devices match by.
  public var matchTable: [DeviceMatch] { Self.matchEntries }
  // Built once: the driver core reads the table for every device it tries to match.
  private static let matchEntries: [DeviceMatch] =
    ofMatch.map { .compatible($0.compatible) } + [.name("arm-smmu")]

  public var hasShutdown: Bool { true }

  /// The SMMU state of a bound device.
  public func smmu(of device: Device) -> ARMSMMUDevice? { device.driverData as? ARMSMMUDevice }

  /// Mirrors arm_smmu_device_probe(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2); the
  /// kernel-list variant makes its switch before the RMR step.
  public func probe(_ dev: Device, match: DeviceMatch) throws(Errno) {
    guard let kernel = dev.kernel else { throw .ENODEV }
    // A device with an OF node (matched by compatible) is described by DT, else by IORT.
    let fw: ARMSMMUFirmwareData
    if case .compatible = match {
      fw = try deviceDTProbe(dev, match: match)
    } else {
      fw = try deviceACPIProbe(dev)
    }
    let base = try dev.ioremap(0)
    let params = kernel.context
    let smmu = ARMSMMUDevice(
      dev: dev, base: base, ioaddr: dev.resources[0].base,
      disableBypass: params.boolParameter(
        "arm-smmu", "disable_bypass", default: params.config.armSMMUDisableBypassByDefault),
      forceStage: params.moduleParameter("arm-smmu", "force_stage").flatMap { Int($0) } ?? 0)
    smmu.version = fw.version
    smmu.model = fw.model
    if fw.coherentWalk { smmu.features.insert(.coherentWalk) }
    // The resource size stands in for SMMU_TOP until cfg_probe knows PAGESIZE.
    smmu.numpage = base.size
    implInit(smmu)

    let numIRQs = dev.irqCount
    smmu.numContextIRQs = numIRQs - fw.globalIRQs - fw.pmuIRQs
    if smmu.numContextIRQs <= 0 {
      throw dev.errProbe(
        .ENODEV,
        "found \(numIRQs) interrupts but expected at least \(fw.globalIRQs + fw.pmuIRQs + 1)")
    }
    // Clocks (devm_clk_bulk_get_all, clk_bulk_prepare_enable) are not modelled.
    try deviceCfgProbe(smmu)
    if smmu.version == .v2 {
      if smmu.numContextBanks > smmu.numContextIRQs {
        dev.err(
          "found only \(smmu.numContextIRQs) context irq(s) but \(smmu.numContextBanks) required")
        throw .ENODEV
      }
      // Ignore superfluous interrupts.
      smmu.numContextIRQs = smmu.numContextBanks
    }
    // The global fault IRQs are requested here; the model calls globalFault() instead.
    dev.driverData = smmu
    if variant == .kernelList { try kernelListSwitch(smmu) }
    try rmrInstallBypassSMR(smmu)
    try deviceReset(smmu)
    try testSMRMasks(smmu)
    // iommu_device_sysfs_add("smmu.%pa") and iommu_device_register() have no register effect.
  }

  /// Mirrors arm_smmu_device_shutdown(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2),
  /// or the `abort-on-shutdown`, `abort` or `kernel-list` variant.
  public func shutdown(_ dev: Device) {
    guard let smmu = smmu(of: dev) else { return }
    try? deviceShutdown(smmu)
  }

  /// Mirrors arm_smmu_device_remove(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// unregisters from the IOMMU core (no register effect), then the shutdown path.
  public func remove(_ dev: Device) {
    guard let smmu = smmu(of: dev) else { return }
    try? deviceShutdown(smmu)
  }

  /// The body of arm_smmu_device_shutdown() (Linux 7.2) for the `kernel` variant: one write of
  /// sCR0 = CLIENTPD, which also clears USFCFG and the fault enables, so all traffic bypasses.
  func deviceShutdown(_ smmu: ARMSMMUDevice) throws(Errno) {
    if variant == .kernelList {
      try kernelListShutdown(smmu)
      return
    }
    if !smmu.contextMap.isEmpty { smmu.dev.notice("disabling translation") }
    switch variant {
    case .kernel:
      try smmu.gr0Write(GR0.sCR0, SCR0.CLIENTPD)
    case .abortOnShutdown, .abort:
      if smmu.disableBypass {
        try abortAllStreams(smmu)
      } else {
        try smmu.gr0Write(GR0.sCR0, SCR0.CLIENTPD)
      }
    case .kernelList:
      break
    }
    // Runtime PM and clock disabling have no register effect in the model.
  }

  /// The `abort-on-shutdown` variant (not in Linux 7.2): every stream map entry FAULT and its
  /// SMR invalid, every context bank disabled, the TLBs invalidated and synchronised, then sCR0
  /// with the client port enabled and USFCFG set, so matched and unmatched streams all abort.
  func abortAllStreams(_ smmu: ARMSMMUDevice) throws(Errno) {
    for i in 0..<smmu.numMappingGroups {
      smmu.s2crs[i] = ARMSMMUS2CR(type: .fault)
      smmu.smrs?[i].valid = false
      try writeSME(smmu, i)
    }
    for i in 0..<smmu.numContextBanks {
      smmu.cbs[i] = nil
      try writeContextBank(smmu, i)
    }
    smmu.contextMap.removeAll()
    try smmu.gr0Write(GR0.TLBIALLH, QCOM_DUMMY_VAL)
    try smmu.gr0Write(GR0.TLBIALLNSNH, QCOM_DUMMY_VAL)
    var reg = try smmu.gr0Read(GR0.sCR0)
    reg &= ~SCR0.CLIENTPD
    reg |= SCR0.USFCFG
    try tlbSyncGlobal(smmu)
    try smmu.gr0Write(GR0.sCR0, reg)
  }
}
