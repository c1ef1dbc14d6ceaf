/// One line per structure, for people: what reports and the CLI print. Addresses in lower-case
/// hex, PCI functions as `bus:dev.fn`, offsets as `@0x..` so a line can be found in `acpidump`.
extension FirmwareTable {
  public var summaryLines: [String] {
    switch self {
    case .dmar(let t): t.summaryLines
    case .iort(let t): t.summaryLines
    case .ivrs(let t): t.summaryLines
    }
  }
}

extension DMARTable {
  public var summaryLines: [String] {
    var flagNames: [String] = []
    if flags.contains(.interruptRemapping) { flagNames.append("INTR_REMAP") }
    if flags.contains(.x2APICOptOut) { flagNames.append("X2APIC_OPT_OUT") }
    if flags.contains(.dmaControlPlatformOptIn) { flagNames.append("DMA_CTRL_PLATFORM_OPT_IN") }
    let named = flagNames.isEmpty ? "" : " (" + flagNames.joined(separator: ", ") + ")"
    var lines = ["DMAR: host address width \(hostAddressWidth), flags \(hex(flags.rawValue))\(named)"]
    for s in structures {
      switch s {
      case .hardwareUnit(let u):
        let all = u.flags.contains(.includePCIAll) ? " INCLUDE_PCI_ALL" : ""
        lines.append(
          "DRHD @\(hex(u.offset)): base \(hex(u.registerBase)) size \(hex(u.registerSetSize)) segment \(u.segment)"
            + all + Self.scopes(u.scopes))
      case .reservedMemory(let r):
        lines.append(
          "RMRR @\(hex(r.offset)): \(hex(r.baseAddress))-\(hex(r.endAddress)) segment \(r.segment)"
            + Self.scopes(r.scopes))
      case .rootPortATS(let a):
        lines.append(
          "ATSR @\(hex(a.offset)): segment \(a.segment)\(a.allPorts ? " ALL_PORTS" : "")" + Self.scopes(a.scopes))
      case .hardwareAffinity(let h):
        lines.append("RHSA @\(hex(h.offset)): base \(hex(h.registerBase)) proximity domain \(h.proximityDomain)")
      case .namespaceDevice(let n):
        lines.append("ANDD @\(hex(n.offset)): device \(n.deviceNumber) \(n.name)")
      case .socIntegratedATC(let c):
        lines.append(
          "SATC @\(hex(c.offset)): segment \(c.segment)\(c.atcRequired ? " ATC_REQUIRED" : "")" + Self.scopes(c.scopes))
      case .unknown(let type, let offset, let bytes):
        lines.append("type \(type) @\(hex(offset)): \(bytes.count) bytes, skipped by the kernel")
      }
    }
    return lines
  }

  static func scopes(_ scopes: [DMARDeviceScope]) -> String {
    guard !scopes.isEmpty else { return "" }
    return "; scope: "
      + scopes.map { s in
        let path = s.path.map(\.description).joined(separator: "/")
        let location = "\(hex2(s.startBus).lowercased()):\(path.lowercased())"
        switch s.kind {
        case .endpoint: return "endpoint \(location)"
        case .bridge: return "bridge \(location)"
        case .ioapic: return "IOAPIC \(s.enumerationID) \(location)"
        case .hpet: return "HPET \(s.enumerationID) \(location)"
        case .namespace: return "namespace \(s.enumerationID) \(location)"
        case .unknown(let t): return "type \(t) \(location)"
        }
      }.joined(separator: ", ")
  }
}

extension IORTTable {
  public var summaryLines: [String] {
    var lines = ["IORT: revision \(header.revision), \(nodes.count) nodes"]
    for n in nodes {
      var line = "\(Self.name(n)) @\(hex(n.offset)): "
      switch n.body {
      case .itsGroup(let g): line += "ITS " + g.identifiers.map(String.init).joined(separator: ", ")
      case .namedComponent(let c):
        line += c.deviceName + (c.memoryAddressLimit > 0 ? ", \(c.memoryAddressLimit)-bit addresses" : "")
      case .rootComplex(let rc):
        line += "segment \(rc.pciSegment), ATS \(rc.atsSupported ? "yes" : "no")"
        if let limit = rc.memoryAddressLimit, limit > 0 { line += ", \(limit)-bit addresses" }
      case .smmu(let s):
        line += "base \(hex(s.baseAddress)) span \(hex(s.span)) model \(Self.modelName(s.model))"
        line += ", \(s.contextInterrupts.count) context interrupts"
      case .smmuV3(let s):
        line += "base \(hex(s.baseAddress)) model \(Self.modelName(s.model))"
        if s.flags.contains(.coherentAccessOverride) { line += " COHACC" }
        line += ", GSIV event \(hex(s.eventGSIV)) pri \(hex(s.priGSIV)) gerr \(hex(s.gerrGSIV)) sync \(hex(s.syncGSIV))"
      case .pmcg(let p):
        line += "page 0 \(hex(p.page0BaseAddress)), overflow GSIV \(hex(p.overflowGSIV)), node @\(hex(p.nodeReference))"
      case .rmr(let r):
        line += r.ranges.map { "\(hex($0.baseAddress))+\(hex($0.length))" }.joined(separator: ", ")
      case .unknown:
        line += "\(n.length) bytes"
      }
      lines.append(line + mappingText(n))
    }
    return lines
  }

  /// The mappings grouped by target: one mapping in full, several as a count per target.
  private func mappingText(_ n: IORTNode) -> String {
    guard !n.idMappings.isEmpty else { return "" }
    func target(_ ref: UInt32) -> String { node(at: ref).map { "\(Self.name($0)) @\(hex(ref))" } ?? "@\(hex(ref))" }
    if n.idMappings.count == 1, let m = n.idMappings.first {
      if m.isSingleMapping { return "; single ID -> \(target(m.outputReference)) \(hex(m.outputBase))" }
      if m.idCount == 0 { return "; ID \(hex(m.inputBase)) -> \(target(m.outputReference)) \(hex(m.outputBase))" }
      return "; IDs \(hex(m.inputRange.lowerBound))-\(hex(m.inputRange.upperBound)) -> \(target(m.outputReference)) "
        + "\(hex(m.outputRange.lowerBound))-\(hex(m.outputRange.upperBound))"
    }
    var order: [UInt32] = []
    var counts: [UInt32: Int] = [:]
    for m in n.idMappings {
      if counts[m.outputReference] == nil { order.append(m.outputReference) }
      counts[m.outputReference, default: 0] += 1
    }
    return "; " + order.map { "\(counts[$0] ?? 0) ID mappings -> \(target($0))" }.joined(separator: ", ")
  }

  static func name(_ n: IORTNode) -> String {
    switch n.type {
    case .itsGroup: "ITS group"
    case .namedComponent: "named component"
    case .rootComplex: "root complex"
    case .smmu: "SMMUv1/v2"
    case .smmuV3: "SMMUv3"
    case .pmcg: "PMCG"
    case .rmr: "RMR"
    case nil: "type \(n.rawType)"
    }
  }

  static func modelName(_ m: IORTSMMU.Model) -> String {
    switch m {
    case .genericV1: "generic SMMUv1"
    case .genericV2: "generic SMMUv2"
    case .mmu400: "MMU-400"
    case .mmu500: "MMU-500"
    case .mmu401: "MMU-401"
    case .caviumThunderX: "Cavium ThunderX"
    case .unknown(let v): "unknown \(v)"
    }
  }

  static func modelName(_ m: IORTSMMUv3.Model) -> String {
    switch m {
    case .generic: "generic"
    case .hisiliconHi161x: "HiSilicon Hi161x"
    case .caviumCN99xx: "Cavium CN99xx"
    case .unknown(let v): "unknown \(v)"
    }
  }
}
