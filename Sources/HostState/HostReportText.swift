import MMIO

extension HostReport {
  /// The report for people: the verdict with its evidence, warnings, IOMMUs, groups in the
  /// layout people paste into issues (`IOMMU Group N:` then one line per device), PCI
  /// functions, firmware tables, and the command line's intent apart from observed state.
  public var text: String {
    var out: [String] = []
    out.append("IOMMU state: \(verdict.state) — \(verdict.summary)")
    out += verdict.evidence.map { "  evidence: \($0)" }
    if !warnings.isEmpty {
      out.append("")
      out.append("Warnings:")
      out += warnings.map { "  [\($0.kind)] \($0.message)" }
    }
    out.append("")
    out.append("IOMMUs (\(sources.sysfsRoot)/class/iommu):")
    if iommus.isEmpty { out.append("  (none registered by the kernel)") }
    for u in iommus {
      out.append("  \(u.name): \(u.driver), \(u.devices.count) device(s)")
      if let i = u.intel {
        out.append(
          "    address \(i.address ?? "?") version \(i.version ?? "?")"
            + " domains \(i.domainsUsed.map(String.init) ?? "?")/\(i.domainsSupported.map(String.init) ?? "?") used"
            + (i.drhd.map { "; firmware: \($0)" } ?? ""))
        if let cap = i.cap { out.append("    " + Self.fieldLine(cap)) }
        if let ecap = i.ecap { out.append("    " + Self.fieldLine(ecap)) }
        if !i.derived.isEmpty {
          out.append(
            "    derived: "
              + i.derived.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
      }
      if let a = u.amd {
        if let cap = a.cap { out.append("    " + Self.fieldLine(cap)) }
        if let efr = a.efr { out.append("    " + Self.fieldLine(efr) + " (features as \(a.featuresFormat ?? "?"))") }
        if let efr2 = a.efr2 { out.append("    EFR2=\(efr2)") }
      }
    }
    out.append("")
    out.append("IOMMU groups (default domain type; VFIO attachments do not show here):")
    if groups.isEmpty { out.append("  (none)") }
    let byAddress = Dictionary(pci.functions.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
    // Which registered IOMMU lists the device among its `devices/` links.
    let unitOf = Dictionary(
      iommus.flatMap { u in u.devices.map { ($0, u.name) } }, uniquingKeysWith: { a, _ in a })
    for g in groups {
      out.append("IOMMU Group \(g.id): \(g.defaultDomain ?? "type unknown")")
      for d in g.devices {
        let f = byAddress[d]
        let ids = f.map { " [\($0.class ?? "????")]: [\($0.vendor ?? "????"):\($0.device ?? "????")]" } ?? ""
        let unit = unitOf[d].map { " iommu: \($0)" } ?? ""
        out.append("\t\(d)\(ids) driver: \(f?.driver ?? "none")\(unit)")
      }
      for r in g.reservedRegions { out.append("\treserved \(r.start)-\(r.end) \(r.type)") }
    }
    out.append("")
    out.append("PCI functions (\(sources.pci)):")
    if let e = pci.error { out.append("  error: \(e)") }
    for f in pci.functions {
      var line = "  \(f.address) [\(f.class ?? "????")] \(f.vendor ?? "????"):\(f.device ?? "????")"
      if let r = f.revision { line += " rev \(r)" }
      line +=
        " driver: \(f.driver ?? "none") group: \(f.iommuGroup.map(String.init) ?? "none") config read: \(f.configBytes) bytes"
      out.append(line)
      if let m = f.iommu { out.append("    IOMMU function: \(m.kind) — \(m.reason)") }
      for c in f.capabilities {
        let fields = c.registers.map { r in
          r.name + " " + r.value
            + (r.fields.isEmpty ? "" : " (" + r.fields.map { "\($0.name)=\($0.value)" }.joined(separator: " ") + ")")
        }
        out.append("    [\(c.offset)] \(c.name)" + (fields.isEmpty ? "" : ": " + fields.joined(separator: "; ")))
      }
      out.append("    capability lists: standard \(f.capabilityList), extended \(f.extendedCapabilityList)")
      for u in f.unknown { out.append("    unknown: \(u)") }
    }
    out.append("")
    out.append("Firmware tables (\(sources.acpiTables)):")
    for t in firmware {
      var line = "  \(t.signature): \(t.status)"
      if let l = t.length { line += ", \(l) bytes, revision \(t.revision ?? 0), OEM \(t.oemID ?? "")" }
      if let c = t.checksumValid { line += c ? ", checksum ok" : ", BAD checksum" }
      if let e = t.error { line += " — \(e)" }
      out.append(line)
      out += t.structures.map { "    \($0)" }
      out += t.findings.map { "    finding: \($0)" }
    }
    out.append("")
    out.append("Kernel \(kernel.release ?? "(release unknown)")")
    out.append("  command line intent (what was asked, not what happened):")
    if kernel.commandLineIntent.parameters.isEmpty { out.append("    (no IOMMU parameters)") }
    for p in kernel.commandLineIntent.parameters {
      out.append("    \(p.name)\(p.value.isEmpty ? "" : "=" + p.value): \(p.meaning)")
    }
    let h = kernel.handover
    func flag(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "unknown (not exposed)" }
    out.append(
      "  handover: kexec image loaded: \(flag(h.kexecLoaded)); crash kernel loaded: \(flag(h.kexecCrashLoaded))"
        + "; crash reservation: \(h.kexecCrashSize.map { "\($0) bytes" } ?? "unknown")")
    out.append(
      "  /proc/iomem: \(h.iomem)"
        + (h.crashKernelRegions.isEmpty
          ? ", no Crash kernel range"
          : ", Crash kernel " + h.crashKernelRegions.map { "\($0.start)-\($0.end)" }.joined(separator: ", ")))
    return out.joined(separator: "\n")
  }

  static func fieldLine(_ r: RegisterReport) -> String {
    "\(r.name)=\(r.raw): " + r.fields.map { "\($0.name)=\(hex($0.value))" }.joined(separator: " ")
  }
}
