import Kernel
import MMIO
import Memory
import PCI

// Context entries: the copy of the previous kernel's tables in kdump, the attach that replaces
// a copied entry, and the attach of a default domain. drivers/iommu/intel/iommu.c (Linux 7.2).

extension IntelIOMMUDriver {
  private func pr(_ level: KernelLogLevel, _ s: @autoclosure () -> String) { kernel.printk(level, "DMAR: \(s())") }

  /// Mirrors copy_translation_tables(), drivers/iommu/intel/iommu.c (Linux 7.2): reads RTADDR;
  /// -EINVAL when its SMT bit differs from the mode this kernel uses (the bit can only change
  /// with translation off) or when it holds no table; -ENOMEM when the old table cannot be
  /// mapped. Each bus's context tables are copied (present entries only, their domain IDs
  /// reserved and marked copied) and installed in this kernel's root table.
  func copyTranslationTables(_ iommu: IntelIOMMU) throws(DMARError) {
    let rtaddr = try iommu.readq(DMARReg.RTADDR)
    let ext = rtaddr & DMA_RTADDR_SMT != 0
    guard ext == smSupported(iommu) else { throw .errno(.EINVAL) }
    iommu.copiedTables = []
    let oldRoot = rtaddr & ~0xfff
    guard oldRoot != 0 else { throw .errno(.EINVAL) }
    guard memory.isBacked(oldRoot, length: 4096), let root = iommu.rootEntry else { throw .errno(.ENOMEM) }
    var tables = [UInt64?](repeating: nil, count: ext ? 512 : 256)
    for bus in 0..<256 {
      do {
        try copyContextTable(iommu, oldRootEntry: oldRoot + UInt64(bus * 16), into: &tables, bus: bus, ext: ext)
      } catch {
        if case .fatal = error { throw error }
        pr(.err, "\(iommu.name): Failed to copy context table for bus \(bus)")
      }
    }
    do {
      for bus in 0..<256 {
        let idx = ext ? bus * 2 : bus
        if let t = tables[idx] { try memory.write64(t | 1, at: root.address + UInt64(bus * 16)) }
        if ext, let t = tables[idx + 1] { try memory.write64(t | 1, at: root.address + UInt64(bus * 16) + 8) }
      }
    } catch { throw .errno(.ENOMEM) }
  }

  /// Mirrors copy_context_table(), drivers/iommu/intel/iommu.c (Linux 7.2): one bus, lower (devfn < 0x80) and, in scalable mode, upper
  /// context table; 16-byte entries in legacy mode, 32-byte ones in scalable mode.
  private func copyContextTable(
    _ iommu: IntelIOMMU, oldRootEntry: UInt64, into tables: inout [UInt64?], bus: Int, ext: Bool
  ) throws(DMARError) {
    let tblIdx = ext ? bus * 2 : bus
    do {
      let lo = try memory.read64(oldRootEntry)
      let hi = try memory.read64(oldRootEntry + 8)
      var pos = 0
      var devfn = 0
      while devfn < 256 {
        defer { devfn += 1 }
        let half = ext && devfn >= 0x80 ? 1 : 0
        if ext && devfn == 0x80 { pos = 1 }
        let ptr = half == 0 ? lo : hi
        guard ptr & 1 != 0 else {
          if ext && devfn == 0 {
            devfn = 0x7f
            continue
          }
          return
        }
        let oldTable = ptr & ~0xfff
        if tables[tblIdx + pos] == nil {
          guard memory.isBacked(oldTable, length: 4096) else { throw DMARError.errno(.ENOMEM) }
          tables[tblIdx + pos] = try allocPages(1).address
        }
        guard let newTable = tables[tblIdx + pos] else { return }
        let idx = ext ? (devfn * 2) % 256 : devfn
        let entryLo = try memory.read64(oldTable + UInt64(idx * 16))
        guard entryLo & 1 != 0 else { continue }
        let entryHi = try memory.read64(oldTable + UInt64(idx * 16) + 8)
        let did = Int(entryHi >> 8 & 0xffff)
        if did < iommu.cap.ndoms { iommu.domainIDs.insert(did) }
        iommu.copiedTables.insert(UInt16(bus << 8 | devfn))
        try memory.write64(entryLo, at: newTable + UInt64(idx * 16))
        try memory.write64(entryHi, at: newTable + UInt64(idx * 16) + 8)
        if ext {
          for q in 2..<4 {
            try memory.write64(
              try memory.read64(oldTable + UInt64(idx * 16 + q * 8)), at: newTable + UInt64(idx * 16 + q * 8))
          }
        }
      }
    } catch let e as DMARError {
      throw e
    } catch {
      throw .errno(.ENOMEM)
    }
  }

  /// Mirrors intel_iommu_is_attach_deferred(), drivers/iommu/intel/iommu.c (Linux 7.2): while the unit's translation was inherited
  /// from the previous kernel, devices keep their copied context entries until first used.
  public func isAttachDeferred(_ iommu: IntelIOMMU, _ rid: UInt16) -> Bool {
    iommu.translationPreEnabled && !attached.contains(rid)
  }

  /// The devices a unit translates: its scope, or, for INCLUDE_PCI_ALL, every device no other
  /// unit claims (device_lookup_iommu()).
  func devicesBehind(_ unit: DMARDRHDUnit) -> [UInt16] {
    guard unit.includeAll else { return unit.devices }
    let claimed = Set(units.filter { !$0.includeAll }.flatMap(\.devices))
    return pciDevices.filter { !claimed.contains($0) }
  }

  /// The default domain attach of iommu_device_register()'s probe, for every device behind
  /// the unit whose attach is not deferred.
  func attachDevices(_ iommu: IntelIOMMU, unit: DMARDRHDUnit) throws(DMARError) {
    for rid in devicesBehind(unit) { iommuGroupAddDevice(rid) }
    guard !smSupported(iommu) else { return }
    for rid in devicesBehind(unit) where !isAttachDeferred(iommu, rid) {
      try domainContextMappingOne(iommu, rid: rid)
    }
  }

  /// Mirrors the group step of __iommu_probe_device(), drivers/iommu/iommu.c (Linux 7.2):
  /// pci_device_group() puts the functions of one slot in one group (QEMU's q35 has no ACS),
  /// and iommu_group_add_device() logs the device joining it, in the kdump kernel too (only the
  /// attach is deferred there).
  func iommuGroupAddDevice(_ rid: UInt16) {
    let slot = rid >> 3
    let group = iommuGroups[slot] ?? iommuGroups.count
    iommuGroups[slot] = group
    // `pci_name()`: `0000:bb:dd.f`.
    kernel.printk(.info, "pci \(PCIAddress(requesterID: rid)): Adding to iommu group \(group)")
  }

  /// The unit a device is behind.
  public func iommu(for rid: UInt16) -> IntelIOMMU? {
    // Asked on every mapping: a unit's own scope is searched in place, the INCLUDE_PCI_ALL
    // unit's (the devices no other unit claims) is worked out only when reached.
    for unit in units where !unit.ignored {
      if unit.includeAll ? devicesBehind(unit).contains(rid) : unit.devices.contains(rid) { return unit.iommu }
    }
    return nil
  }

  /// `iommu_deferred_attach()` on a device's first DMA API use in a kdump kernel: the default
  /// domain replaces the copied context entry.
  public func deferredAttach(_ rid: UInt16) throws(DMARError) {
    guard let iommu = iommu(for: rid) else { throw .errno(.ENODEV) }
    try domainContextMappingOne(iommu, rid: rid)
  }

  /// Mirrors domain_context_mapping_one(), drivers/iommu/intel/iommu.c (Linux 7.2), legacy mode: allocates the bus's context table,
  /// flushes a copied entry's old domain (device context, domain IOTLB) and writes a present
  /// entry: pass-through for an identity default domain when ECAP.PT, else second-level
  /// translation through the page table of the device's group domain (the unit's AGAW).
  func domainContextMappingOne(_ iommu: IntelIOMMU, rid: UInt16) throws(DMARError) {
    guard let root = iommu.rootEntry else { throw .errno(.ENODEV) }
    let bus = UInt64(rid >> 8)
    let devfn = UInt64(rid & 0xff)
    do {
      var rootLo = try memory.read64(root.address + bus * 16)
      if rootLo & 1 == 0 {
        rootLo = try allocPages(1).address | 1
        try memory.write64(rootLo, at: root.address + bus * 16)
      }
      let entry = (rootLo & ~0xfff) + devfn * 16
      let lo = try memory.read64(entry)
      let hi = try memory.read64(entry + 8)
      if lo & 1 != 0 && !iommu.copiedTables.contains(rid) { return }
      if iommu.copiedTables.contains(rid) {
        let oldDID = UInt16(hi >> 8 & 0xffff)
        if Int(oldDID) < iommu.cap.ndoms {
          try flushContext(iommu, did: oldDID, sid: rid, granularity: 3)
          try flushIOTLB(iommu, did: oldDID, granularity: 2)
        }
        iommu.copiedTables.remove(rid)
      }
      let identity = kernel.context.defaultDomainType == .identity && iommu.ecap.passThrough
      // One default domain per IOMMU group; functions of one slot share a group (no ACS).
      let group = rid >> 3
      var newLo: UInt64 = 1
      let did: Int
      if identity {
        did = 1
        newLo |= 2 << 2
      } else if let domain = groupDomains[group] {
        did = domain.did
        newLo |= domain.pgd
      } else {
        did = (2..<iommu.cap.ndoms).first { !iommu.domainIDs.contains($0) } ?? 0
        let pgd = try allocPages(1).address
        groupDomains[group] = (did, pgd)
        newLo |= pgd
      }
      iommu.domainIDs.insert(did)
      let newHi = UInt64(did) << 8 | UInt64(identity ? iommu.msagaw : iommu.agaw)
      try memory.write64(newHi, at: entry + 8)
      try memory.write64(newLo, at: entry)
      attached.insert(rid)
      pageTables[rid] = identity ? nil : newLo & ~0xfff
      if iommu.cap.cachingMode {
        try flushContext(iommu, did: 0, sid: rid, granularity: 3)
        try flushIOTLB(iommu, did: UInt16(did), granularity: 2)
      } else {
        try iommuFlushWriteBuffer(iommu)
      }
    } catch let e as DMARError {
      throw e
    } catch {
      throw .errno(.ENOMEM)
    }
  }

  /// The second-level page table root of `rid`'s default DMA domain, once attached (nil for
  /// an identity domain or before the attach).
  public func defaultDomainPageTable(rid: UInt16) -> UInt64? { pageTables[rid] }

  /// A 4 KiB read/write mapping `iova` → `phys` in the device's default domain (the effect of
  /// intel_iommu_map_pages() through the DMA API), creating page-table levels as needed.
  public func mapPage(rid: UInt16, iova: UInt64, phys: UInt64) throws(DMARError) {
    guard let pgd = pageTables[rid], let iommu = iommu(for: rid) else { throw .errno(.ENODEV) }
    try mapPage(pgd: pgd, agaw: iommu.agaw, iova: iova, phys: phys)
  }

  /// 4 KiB read/write mappings of `size` bytes, `iova` → `phys`, in the device's default
  /// domain: intel_iommu_map_pages() with a page count, the domain's table and unit looked up
  /// once for all its pages.
  public func mapPages(rid: UInt16, iova: UInt64, phys: UInt64, size: UInt64) throws(DMARError) {
    guard size > 0 else { return }
    guard let pgd = pageTables[rid], let iommu = iommu(for: rid) else { throw .errno(.ENODEV) }
    for offset in stride(from: UInt64(0), to: size, by: 4096) {
      try mapPage(pgd: pgd, agaw: iommu.agaw, iova: iova + offset, phys: phys + offset)
    }
  }

  private func mapPage(pgd: UInt64, agaw: Int, iova: UInt64, phys: UInt64) throws(DMARError) {
    var table = pgd
    do {
      for level in stride(from: agaw + 2, to: 1, by: -1) {
        let slot = table + ((iova >> UInt64(12 + 9 * (level - 1))) & 0x1ff) * 8
        var pte = try memory.read64(slot)
        if pte & 3 == 0 {
          pte = try allocPages(1).address | 3
          try memory.write64(pte, at: slot)
        }
        table = pte & 0x000f_ffff_ffff_f000
      }
      try memory.write64((phys & ~0xfff) | 3, at: table + ((iova >> 12) & 0x1ff) * 8)
    } catch let e as DMARError {
      throw e
    } catch {
      throw .errno(.ENOMEM)
    }
  }
}
