import DeviceCore
import Kernel
import MMIO
import Memory

/// `struct arm_smmu_master`: a device behind the SMMU, with its default domain.
public final class ARMSMMUv3Master {
  public let dev: Device
  public let streamIDs: [UInt32]
  /// `iommu_group` id the IOMMU core gave it.
  public let group: Int
  // Changed by plain stores on attach and shutdown, never while another access is in progress:
  // no dynamic exclusivity checks. Other modules (the machine's binding) do not see
  // `@exclusivity(unchecked)`, so they read `domain` and `pgd` through inlinable accessors.
  /// The default domain attached (nil while attach is deferred, or once the kernel-list
  /// shutdown has blocked the master).
  public internal(set) var domain: DefaultDomainType? {
    @inlinable get { uncheckedDomain }
    set { uncheckedDomain = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedDomain: DefaultDomainType?
  /// Linear CD table (one CD: no PASIDs) and the stage-1 or stage-2 page table root.
  @exclusivity(unchecked) public internal(set) var cdTable: DMABuffer?
  /// The root of the domain's page table (io-pgtable's pgd), where DMA mappings would go.
  public internal(set) var pgd: DMABuffer? {
    @inlinable get { uncheckedPGD }
    set { uncheckedPGD = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedPGD: DMABuffer?
  @exclusivity(unchecked) public internal(set) var asid: UInt16 = 0
  @exclusivity(unchecked) public internal(set) var vmid: UInt16 = 0

  init(dev: Device, streamIDs: [UInt32], group: Int) {
    self.dev = dev
    self.streamIDs = streamIDs
    self.group = group
  }
}

extension ARMSMMUv3Device {
  /// Mirrors arm_smmu_probe_device() with arm_smmu_insert_master() and arm_smmu_init_sid_strtab(),
  /// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2): each stream ID must be in range
  /// (-ERANGE) and gets its L2 stream table; then iommu_group_add_device() logs the group.
  func probeDevice(_ device: Device, group: Int) throws(Errno) -> ARMSMMUv3Master {
    for sid in device.streamIDs {
      guard sidInRange(sid) else { throw .ERANGE }
      if features.contains(.twoLevelStrtab) && !adopted { try initL2Strtab(sid: sid) }
      if masters.contains(where: { $0.streamIDs.contains(sid) }) {
        device.warn("Aliasing StreamID 0x\(String(sid, radix: 16)) unsupported, expect DMA to be broken")
        throw .EINVAL
      }
    }
    let master = ARMSMMUv3Master(dev: device, streamIDs: device.streamIDs, group: group)
    // The stored array, appended in place: through the public accessor's get and set, every
    // append copied the whole list.
    uncheckedMasters.append(master)
    // fw_devlink (the `iommu-map` / `iommus` phandle): the master is a consumer of the SMMU,
    // so it shuts down first.
    try? dev.core?.addLink(supplier: dev, consumer: device)
    device.info("Adding to iommu group \(group)")
    return master
  }

  /// `iommu_setup_default_domain()` then arm_smmu_attach_dev() / arm_smmu_attach_dev_identity(),
  /// drivers/iommu/iommu.c and drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2): a
  /// bypass STE for identity; for DMA a stage-1 CD (written first) and a CD-table STE, or a
  /// stage-2 STE when the SMMU has no stage 1.
  func attachDefaultDomain(_ master: ARMSMMUv3Master, type: DefaultDomainType) throws(Errno) {
    master.domain = type
    if type == .identity {
      for sid in master.streamIDs { try writeSTE(sid: sid, target: STE.bypass) }
      return
    }
    if features.contains(.transS1) {
      try attachS1(master)
    } else {
      try attachS2(master)
    }
  }

  /// The io-pgtable parameters of a DMA domain (ARM_64_LPAE_S1/S2 with 4 KiB pages): input
  /// size, and the walk attributes that depend on coherency.
  private var walkAttributes: (irgn: UInt64, orgn: UInt64, sh: UInt64) {
    features.contains(.coherency) ? (1, 1, 3) : (0, 0, 2)
  }

  private var ipsEncoding: UInt64 {
    switch ias {
    case 32: 0
    case 36: 1
    case 40: 2
    case 42: 3
    case 44: 4
    case 52: 6
    default: 5
    }
  }

  private func attachS1(_ master: ARMSMMUv3Master) throws(Errno) {
    // arm_smmu_domain_finalise_s1(): an ASID, a page table (VA_BITS = 48 in Debian's kernels).
    master.asid = nextASID
    nextASID &+= 1
    master.pgd = try dev.dmaAllocCoherent(size: 4096)
    master.cdTable = try dev.dmaAllocCoherent(size: 64)
    guard let pgd = master.pgd, let cdTable = master.cdTable else { throw .ENOMEM }
    let attributes = walkAttributes
    // arm_smmu_make_s1_cd().
    var cd = EntryWords()
    cd[0][bits: CD.T0SZ] = 64 - min(features.contains(.vax) ? 52 : 48, 48)
    cd[0][bits: CD.TG0] = 0
    cd[0][bits: CD.IRGN0] = attributes.irgn
    cd[0][bits: CD.ORGN0] = attributes.orgn
    cd[0][bits: CD.SH0] = attributes.sh
    cd[0] |= CD.EPD1 | CD.V | CD.AA64 | CD.R | CD.A | CD.ASET
    cd[0][bits: CD.IPS] = ipsEncoding
    cd[0][bits: CD.ASID] = UInt64(master.asid)
    cd[1] = pgd.address & CD.TTB0_MASK
    // MAIR: NC, WBRWA, DEVICE, INC_OWBRWA (io-pgtable-arm's attribute indices).
    cd[3] = 0xf404_ff44
    try writeEntry(at: cdTable.address, target: cd, used: CD.used, vBit: CD.V) { () throws(Errno) in
      // arm_smmu_sync_cd(): CFGI_CD for every stream of the master, then CMD_SYNC.
      try cmdqIssueCmdlist(master.streamIDs.lazy.map { .cfgiCD(sid: $0, ssid: 0, leaf: true) }, sync: true)
    }
    // arm_smmu_make_cdtable_ste(), S1DSS = SSID0, STRW = NSEL1 (no E2H).
    var ste = EntryWords()
    ste[0] = STE.V | (cdTable.address & STE.S1CTXPTR_MASK)
    ste[0][bits: STE.CFG] = STE.CFG_S1_TRANS
    ste[1][bits: STE.S1DSS] = STE.S1DSS_SSID0
    ste[1][bits: STE.S1CIR] = STE.S1C_CACHE_WBRA
    ste[1][bits: STE.S1COR] = STE.S1C_CACHE_WBRA
    ste[1][bits: STE.S1CSH] = 3
    if features.contains(.stalls) { ste[1] |= STE.S1STALLD }
    for sid in master.streamIDs { try writeSTE(sid: sid, target: ste) }
  }

  private func attachS2(_ master: ARMSMMUv3Master) throws(Errno) {
    // arm_smmu_domain_finalise_s2(): a VMID from 1, a stage-2 table of ias bits.
    master.vmid = UInt16(truncatingIfNeeded: masters.firstIndex { $0 === master } ?? 0) + 1
    master.pgd = try dev.dmaAllocCoherent(size: 4096)
    guard let pgd = master.pgd else { throw .ENOMEM }
    let attributes = walkAttributes
    let levels = (Int(ias) - 12 + 8) / 9
    var vtcr: UInt64 = 0
    vtcr[bits: 0...5] = UInt64(64 - ias)
    vtcr[bits: 6...7] = UInt64(max(0, levels - 2))  // SL0: 4 KiB granule, start level 4 - levels
    vtcr[bits: 8...9] = attributes.irgn
    vtcr[bits: 10...11] = attributes.orgn
    vtcr[bits: 12...13] = attributes.sh
    vtcr[bits: 16...18] = ipsEncoding
    // arm_smmu_make_s2_domain_ste().
    var ste = EntryWords()
    ste[0] = STE.V
    ste[0][bits: STE.CFG] = STE.CFG_S2_TRANS
    ste[1][bits: STE.SHCFG] = STE.SHCFG_INCOMING
    ste[2][bits: STE.S2VMID] = UInt64(master.vmid)
    ste[2][bits: STE.VTCR] = vtcr
    ste[2] |= STE.S2AA64 | STE.S2R | STE.S2PTW
    ste[3] = pgd.address & STE.S2TTB_MASK
    for sid in master.streamIDs { try writeSTE(sid: sid, target: ste) }
  }

  /// `iommu_device_register()` → `bus_iommu_probe()`, drivers/iommu/iommu.c (Linux 7.2): probes
  /// every device firmware placed behind this SMMU, each in its own group, then sets up each
  /// group's default domain. With kdump-adopt the attach is deferred (the old STEs stay live).
  func iommuDeviceRegister(groupBase: inout Int) {
    guard let core = dev.core else { return }
    // The masters probed here are the ones probeDevice() appends to `masters` from `first` on.
    let first = uncheckedMasters.count
    for device in core.devices where device.iommu === dev && !device.streamIDs.isEmpty {
      if (try? probeDevice(device, group: groupBase)) != nil { groupBase += 1 }
    }
    guard !adopted else { return }
    let type = kernel?.context.defaultDomainType ?? .dma
    for master in uncheckedMasters[first...] {
      try? attachDefaultDomain(master, type: type == .dmaFQ ? .dma : type)
    }
  }
}
