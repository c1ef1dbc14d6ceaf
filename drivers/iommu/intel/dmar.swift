import Firmware
import Kernel
import MMIO
import Memory

// DMAR discovery and unit allocation: drivers/iommu/intel/dmar.c (Linux 7.2).

/// A device scope entry (`struct acpi_dmar_device_scope`).
public struct DMARScope: Sendable, Hashable {
  public enum Kind: UInt8, Sendable, Hashable {
    case endpoint = 1, bridge = 2, ioapic = 3, hpet = 4, namespace = 5
  }
  public var kind: Kind
  public var enumerationID: UInt8
  public var bus: UInt8
  /// (device, function) hops.
  public var path: [(device: UInt8, function: UInt8)]
  public init(kind: Kind, enumerationID: UInt8 = 0, bus: UInt8, path: [(device: UInt8, function: UInt8)]) {
    self.kind = kind
    self.enumerationID = enumerationID
    self.bus = bus
    self.path = path
  }
  public static func == (a: Self, b: Self) -> Bool {
    a.kind == b.kind && a.enumerationID == b.enumerationID && a.bus == b.bus
      && a.path.map { [$0.device, $0.function] } == b.path.map { [$0.device, $0.function] }
  }
  public func hash(into h: inout Hasher) {
    h.combine(kind)
    h.combine(bus)
    for p in path { h.combine(p.device); h.combine(p.function) }
  }
  /// The requester ID of a single-hop PCI scope.
  var requesterID: UInt16? {
    guard path.count == 1 else { return nil }
    return UInt16(bus) << 8 | UInt16(path[0].device) << 3 | UInt16(path[0].function)
  }
}

/// A DRHD as firmware describes it (`struct acpi_dmar_hardware_unit`).
public struct DRHDDescription: Sendable, Hashable {
  public var address: UInt64
  public var flags: UInt8
  public var sizeField: UInt8
  public var segment: UInt16
  public var scopes: [DMARScope]
  public init(address: UInt64, flags: UInt8, sizeField: UInt8 = 0, segment: UInt16 = 0, scopes: [DMARScope]) {
    self.address = address
    self.flags = flags
    self.sizeField = sizeField
    self.segment = segment
    self.scopes = scopes
  }
  public var includePCIAll: Bool { flags & 1 != 0 }
}

/// An RMRR (`struct acpi_dmar_reserved_memory`).
public struct RMRRDescription: Sendable, Hashable {
  public var segment: UInt16
  public var base: UInt64
  public var end: UInt64
  public var scopes: [DMARScope]
  public init(segment: UInt16 = 0, base: UInt64, end: UInt64, scopes: [DMARScope]) {
    self.segment = segment
    self.base = base
    self.end = end
    self.scopes = scopes
  }
}

/// One remapping structure, in the order the table lists it.
public enum DMAREntry: Sendable, Hashable {
  case drhd(DRHDDescription)
  case rmrr(RMRRDescription)
  /// ATSR: flags (bit 0 ALL_PORTS), segment.
  case atsr(flags: UInt8, segment: UInt16)
  /// RHSA: register base, proximity domain.
  case rhsa(base: UInt64, proximityDomain: UInt32)
  /// ANDD: device number, ACPI name.
  case andd(device: UInt8, name: String)
  /// SATC: flags (bit 0 ATC_REQUIRED), segment.
  case satc(flags: UInt8, segment: UInt16)
}

/// The DMAR table's content the driver uses.
public struct DMARDescription: Sendable, Hashable {
  /// The raw host address width byte (width - 1).
  public var hostAddressWidthField: UInt8
  /// Table flags: bit 0 INTR_REMAP, bit 1 X2APIC_OPT_OUT, bit 2 DMA_CTRL_PLATFORM_OPT_IN.
  public var flags: UInt8
  /// The remapping structures in table order.
  public var entries: [DMAREntry]

  public init(hostAddressWidthField: UInt8, flags: UInt8, entries: [DMAREntry]) {
    self.hostAddressWidthField = hostAddressWidthField
    self.flags = flags
    self.entries = entries
  }

  /// A table listing its DRHDs, then its RMRRs.
  public init(hostAddressWidthField: UInt8, flags: UInt8, drhds: [DRHDDescription], rmrrs: [RMRRDescription] = []) {
    self.init(
      hostAddressWidthField: hostAddressWidthField, flags: flags,
      entries: drhds.map(DMAREntry.drhd) + rmrrs.map(DMAREntry.rmrr))
  }

  public var drhds: [DRHDDescription] { entries.compactMap { if case .drhd(let d) = $0 { d } else { nil } } }
  public var rmrrs: [RMRRDescription] { entries.compactMap { if case .rmrr(let r) = $0 { r } else { nil } } }
  public var atsrCount: Int { entries.filter { if case .atsr = $0 { true } else { false } }.count }
  public var satcCount: Int { entries.filter { if case .satc = $0 { true } else { false } }.count }
}

/// `struct dmar_drhd_unit`.
public final class DMARDRHDUnit {
  public let regBaseAddr: UInt64
  public let regSize: UInt64
  public let segment: UInt16
  public let includeAll: Bool
  // Set while the DMAR table is parsed and read on every mapping, by plain stores only: no
  // dynamic exclusivity checks.
  /// Requester IDs of the PCI devices in scope that exist (`devices` after dev-scope init).
  @exclusivity(unchecked) public internal(set) var devices: [UInt16] = []
  let scopes: [DMARScope]
  @exclusivity(unchecked) public internal(set) var ignored = false
  @exclusivity(unchecked) public internal(set) var gfxDedicated = false
  @exclusivity(unchecked) public internal(set) var iommu: IntelIOMMU?
  init(_ d: DRHDDescription) {
    regBaseAddr = d.address
    regSize = 1 << (UInt64(d.sizeField & 0xf) + 12)
    segment = d.segment
    includeAll = d.includePCIAll
    scopes = d.scopes
  }
}

extension IntelIOMMUDriver {
  private func pr(_ level: KernelLogLevel, _ s: @autoclosure () -> String) { kernel.printk(level, "DMAR: \(s())") }

  /// Mirrors dmar_validate_one_drhd(), drivers/iommu/intel/dmar.c (Linux 7.2): maps the unit
  /// and refuses one whose CAP and ECAP both read all ones.
  func dmarValidateOneDRHD(_ d: DRHDDescription) throws(DMARError) {
    guard d.address != 0 else {
      kernel.printk(.warning, "DMAR: [Firmware Bug]: Your BIOS is broken; DMAR reported at address 0!")
      throw .errno(.EINVAL)
    }
    guard let block = registerBlocks[d.address] else {
      pr(.warning, "Can't validate DRHD address: \(String(d.address, radix: 16))")
      throw .errno(.EINVAL)
    }
    let cap = try Self.read64(block, DMARReg.CAP)
    let ecap = try Self.read64(block, DMARReg.ECAP)
    if cap == ~0 && ecap == ~0 {
      kernel.printk(
        .warning,
        "DMAR: [Firmware Bug]: Your BIOS is broken; DMAR reported at address \(String(d.address, radix: 16)) returns all ones!"
      )
      throw .errno(.EINVAL)
    }
  }

  static func read64(_ block: any WritableRegisterIO, _ offset: Int) throws(DMARError) -> UInt64 {
    do { return try block.readq(offset) } catch {
      throw .fatal(KernelFatal(kind: .panic, message: "Fatal exception", detail: "\(error)"))
    }
  }

  /// Mirrors detect_intel_iommu(), drivers/iommu/intel/dmar.c (Linux 7.2): validates every DRHD
  /// early in boot and, when the table is good, installs intel_iommu_init and the x86 platform's
  /// iommu_shutdown hook (intel_iommu_shutdown, run by machine_shutdown() after device_shutdown()).
  public func detectIntelIOMMU() throws(DMARError) {
    guard let table = firmware else { throw .errno(.ENODEV) }
    for case .drhd(let d) in table.entries { try dmarValidateOneDRHD(d) }
    core?.addLateShutdownHook("intel_iommu_shutdown") { [unowned self] in
      do throws(DMARError) { try intelIOMMUShutdown() } catch { shutdownFailure = error }
    }
  }

  /// Mirrors dmar_table_init() and parse_dmar_table(), drivers/iommu/intel/dmar.c (Linux 7.2):
  /// parsed once; DRHDs become units (INCLUDE_PCI_ALL units at the list tail), RMRRs are kept.
  func dmarTableInit() throws(DMARError) {
    if tableInitResult == nil {
      do throws(DMARError) {
        try parseDMARTable()
        tableInitResult = .success(())
      } catch {
        tableInitResult = .failure(error)
      }
    }
    if case .failure(let e) = tableInitResult { throw e }
  }

  private func parseDMARTable() throws(DMARError) {
    guard let table = firmware else { throw .errno(.ENODEV) }
    guard table.hostAddressWidthField >= 12 - 1 else {
      kernel.printk(.warning, "DMAR: [Firmware Bug]: Invalid DMAR haw")
      throw .errno(.EINVAL)
    }
    pr(.info, "Host address width \(Int(table.hostAddressWidthField) + 1)")
    // dmar_walk_remapping_entries() with dmar_table_print_dmar_entry(), then the callback.
    var drhdCount = 0
    for entry in table.entries {
      switch entry {
      case .drhd(let d):
        pr(.info, "DRHD base: \(hex16(d.address)) flags: \(hex(d.flags))")
        try dmarParseOneDRHD(d)
        drhdCount += 1
      case .rmrr(let r):
        pr(.info, "RMRR base: \(hex16(r.base)) end: \(hex16(r.end))")
        rmrrUnits.append(r)
      case .atsr(let flags, _): pr(.info, "ATSR flags: \(hex(flags))")
      case .rhsa(let base, let domain): pr(.info, "RHSA base: \(hex16(base)) proximity domain: \(hex(domain))")
      case .andd(let device, let name): pr(.info, "ANDD device: \(String(device, radix: 16)) name: \(name)")
      case .satc(let flags, _): pr(.info, "SATC flags: \(hex(flags))")
      }
    }
    if drhdCount == 0 {
      kernel.printk(.warning, "DMAR: [Firmware Bug]: No DRHD structure found in DMAR table")
    }
  }

  private func hex16(_ v: UInt64) -> String { hex(v, digits: 14) }

  /// Mirrors dmar_parse_one_drhd() and dmar_register_drhd_unit(), drivers/iommu/intel/dmar.c
  /// (Linux 7.2).
  func dmarParseOneDRHD(_ d: DRHDDescription) throws(DMARError) {
    let unit = DMARDRHDUnit(d)
    try allocIOMMU(unit)
    if unit.includeAll { units.append(unit) } else { units.insert(unit, at: 0) }
  }

  /// Mirrors alloc_iommu() and map_iommu(), drivers/iommu/intel/dmar.c (Linux 7.2): reads CAP,
  /// ECAP, VER and GSTS, logs the unit, and reflects IRES/TES/QIES found set in `gcmd`.
  func allocIOMMU(_ unit: DMARDRHDUnit) throws(DMARError) {
    guard let block = registerBlocks[unit.regBaseAddr] else {
      pr(.err, "Can't map the region")
      throw .errno(.ENOMEM)
    }
    let seq = units.count
    let iommu = IntelIOMMU(
      name: "dmar\(seq)", seqID: seq, regPhys: unit.regBaseAddr, regSize: unit.regSize, reg: block, driver: self)
    iommu.cap = VTdCap(raw: try iommu.readq(DMARReg.CAP))
    iommu.ecap = VTdEcap(raw: try iommu.readq(DMARReg.ECAP))
    if iommu.cap.raw == ~0 && iommu.ecap.raw == ~0 {
      kernel.printk(
        .warning,
        "DMAR: [Firmware Bug]: Your BIOS is broken; DMAR reported at address \(String(unit.regBaseAddr, radix: 16)) returns all ones!"
      )
      throw .errno(.EINVAL)
    }
    let mapSize = UInt64(max(iommu.ecap.maxIOTLBOffset, iommu.cap.maxFaultRegOffset) + 0xfff) & ~0xfff
    if mapSize > iommu.regSize { iommu.regSize = mapSize }
    // iommu_calculate_agaw(): the widest SAGAW level not above the default 57-bit width.
    guard let agaw = (0...3).reversed().first(where: { iommu.cap.sagaw & (1 << $0) != 0 }) else {
      pr(.err, "Cannot get a valid agaw for iommu (seq_id = \(seq))")
      throw .errno(.ENODEV)
    }
    iommu.agaw = agaw
    iommu.msagaw = agaw
    let ver = try iommu.readl(DMARReg.VER)
    pr(
      .info,
      "\(iommu.name): reg_base_addr \(plainHex(unit.regBaseAddr)) ver \(ver >> 4 & 0xf):\(ver & 0xf) cap \(plainHex(iommu.cap.raw)) ecap \(plainHex(iommu.ecap.raw))"
    )
    let sts = try iommu.readl(DMARReg.GSTS)
    if sts & DMAGcmd.IRE != 0 { iommu.gcmd |= DMAGcmd.IRE }
    if sts & DMAGcmd.TE != 0 { iommu.gcmd |= DMAGcmd.TE }
    if sts & DMAGcmd.QIE != 0 { iommu.gcmd |= DMAGcmd.QIE }
    iommu.drhd = unit
    unit.iommu = iommu
  }

  /// Mirrors dmar_dev_scope_init(), drivers/iommu/intel/dmar.c (Linux 7.2): each DRHD's PCI
  /// endpoint scopes resolve to the devices present (bridge scopes need the bus topology, which
  /// the model does not have: they resolve to nothing).
  func dmarDevScopeInit() {
    for unit in units where !unit.includeAll {
      unit.devices = unit.scopes.compactMap { s in
        guard s.kind == .endpoint, let rid = s.requesterID, pciDevices.contains(rid) else { return nil }
        return rid
      }
    }
  }
}

extension DMARDescription {
  /// The driver's view of a parsed DMAR table (Sources/Firmware's DMARTable), in table order.
  /// Scope entries of unknown types are dropped, as dmar_alloc_dev_scope() skips them after its
  /// "Unsupported device scope" warning (a finding of the parse); so are structure types the
  /// kernel does not know.
  public init(_ table: DMARTable) {
    func scopes(_ s: [DMARDeviceScope]) -> [DMARScope] {
      s.compactMap { e in
        guard let kind = DMARScope.Kind(rawValue: e.kind.rawValue) else { return nil }
        return DMARScope(
          kind: kind, enumerationID: e.enumerationID, bus: e.startBus,
          path: e.path.map { (device: $0.device, function: $0.function) })
      }
    }
    let entries: [DMAREntry] = table.structures.compactMap { structure in
      switch structure {
      case .hardwareUnit(let u):
        .drhd(
          DRHDDescription(
            address: u.registerBase, flags: u.flags.rawValue, sizeField: u.sizeField, segment: u.segment,
            scopes: scopes(u.scopes)))
      case .reservedMemory(let r):
        .rmrr(RMRRDescription(segment: r.segment, base: r.baseAddress, end: r.endAddress, scopes: scopes(r.scopes)))
      case .rootPortATS(let a): .atsr(flags: a.allPorts ? 1 : 0, segment: a.segment)
      case .hardwareAffinity(let h): .rhsa(base: h.registerBase, proximityDomain: h.proximityDomain)
      case .namespaceDevice(let n): .andd(device: n.deviceNumber, name: n.name)
      case .socIntegratedATC(let c): .satc(flags: c.atcRequired ? 1 : 0, segment: c.segment)
      case .unknown: nil
      }
    }
    self.init(hostAddressWidthField: table.hostAddressWidthField, flags: table.flags.rawValue, entries: entries)
  }
}
