import MMIO
import PCI

/// Where `iommu-model host` reads the host from. Every path can point at a captured copy, so
/// any machine's state can be read elsewhere.
public struct HostSources: Sendable, Hashable {
  /// The sysfs root (`/sys`): class/iommu, kernel/iommu_groups, bus/pci, kernel/kexec_*.
  public var sysfsRoot: String
  /// The procfs root (`/proc`): cmdline, iomem, sys/kernel/osrelease.
  public var procRoot: String
  /// The ACPI tables directory (default `<sysfsRoot>/firmware/acpi/tables`).
  public var acpiTables: String
  /// An `lspci -x`/`-xxx`/`-xxxx` dump to read PCI config space from instead of sysfs.
  public var pciDump: String?
  /// Whether each PCI function's driver and group links are looked up under the sysfs root.
  /// Off for a dump of another machine read beside this machine's /sys.
  public var pciLinksFromSysfs: Bool

  public init(
    sysfsRoot: String = "/sys", procRoot: String = "/proc", acpiTables: String? = nil, pciDump: String? = nil,
    pciLinksFromSysfs: Bool = true
  ) {
    self.sysfsRoot = sysfsRoot
    self.procRoot = procRoot
    self.acpiTables = acpiTables ?? sysfsRoot + "/firmware/acpi/tables"
    self.pciDump = pciDump
    self.pciLinksFromSysfs = pciLinksFromSysfs
  }
}

/// Everything `iommu-model host` found, with the evidence for each conclusion. Encoded as the
/// versioned JSON schema of Documentation/host.md.
public struct HostReport: Sendable, Hashable, Encodable {
  public static let currentSchemaVersion = 1

  public var schemaVersion: Int
  public var sources: Sources
  public var verdict: Verdict
  public var warnings: [Warning]
  public var iommus: [IOMMUUnitReport]
  public var groups: [IOMMUGroupReport]
  public var pci: PCISection
  public var firmware: [FirmwareTableReport]
  public var kernel: KernelSection

  public struct Sources: Sendable, Hashable, Encodable {
    public var pci: String
    public var sysfsRoot: String
    public var procRoot: String
    public var acpiTables: String
    public var effectiveUID: UInt32
  }

  /// The overall state: `enabled`, `present-not-enabled` or `no-iommu`, and why.
  public struct Verdict: Sendable, Hashable, Encodable {
    public var state: String
    public var summary: String
    public var evidence: [String]
  }

  /// `no-iommu`, `iommu-not-enabled`, `needs-root`, `not-captured`, `malformed-table`,
  /// `pci-error`, `read-error` or `firmware-mismatch` (a VT-d unit no DRHD describes).
  public struct Warning: Sendable, Hashable, Encodable {
    public var kind: String
    public var message: String
  }

  public struct PCISection: Sendable, Hashable, Encodable {
    public var error: String?
    public var functions: [PCIFunctionReport]
  }

  public struct KernelSection: Sendable, Hashable, Encodable {
    public var release: String?
    /// What the command line asks for: intent, not observed state.
    public var commandLineIntent: CommandLineIntent
    public var handover: HandoverReport
  }

  /// Reads the host (or the captured copy `sources` names). Never writes anything; a source that
  /// cannot be read becomes a warning and the rest of the report goes on.
  public static func collect(_ sources: HostSources) -> HostReport {
    let uid = HostFiles.effectiveUserID
    var warnings: [Warning] = []
    let release = try? HostFiles.text(sources.procRoot + "/sys/kernel/osrelease").get()

    var (units, unitError) = IOMMUUnits.read(sysfsRoot: sources.sysfsRoot, kernelRelease: release)
    if let unitError {
      warnings.append(.init(kind: "read-error", message: "\(sources.sysfsRoot)/class/iommu: \(unitError)"))
    }
    for u in units { for p in u.problems { warnings.append(.init(kind: "read-error", message: "\(u.name): \(p)")) } }
    let (groups, groupError) = IOMMUGroups.read(sysfsRoot: sources.sysfsRoot)
    if let groupError {
      warnings.append(.init(kind: "read-error", message: "\(sources.sysfsRoot)/kernel/iommu_groups: \(groupError)"))
    }

    let pciSource: PCISource = sources.pciDump.map { .dump(path: $0) } ?? .sysfs(root: sources.sysfsRoot)
    var pci = PCISection(error: nil, functions: [])
    do throws(LibPCIError) {
      let live = sources.pciDump == nil
      let devices = sources.sysfsRoot + "/bus/pci/devices/"
      pci.functions = try LibPCI.scan(pciSource).map { f in
        let dir = devices + f.address.description
        let links = sources.pciLinksFromSysfs
        return PCIFunctionReport(
          f, live: live, driver: links ? HostFiles.linkName(dir + "/driver") : nil,
          group: links ? HostFiles.linkName(dir + "/iommu_group").flatMap { Int($0) } : nil)
      }
    } catch {
      pci.error = error.description
      warnings.append(.init(kind: "pci-error", message: "\(pciSource): \(error)"))
    }
    let short = pci.functions.filter { !$0.unknown.isEmpty }
    if !short.isEmpty {
      let live = sources.pciDump == nil
      let list = short.map(\.address).joined(separator: ", ")
      warnings.append(
        live
          ? .init(
            kind: "needs-root",
            message:
              "needs root to see capabilities (MSI, PCI Express, ACS, ATS, PRI, PASID) of \(short.count) function(s): \(list); "
              + "a non-root reader sees only the first 64 bytes of config space")
          : .init(
            kind: "not-captured",
            message:
              "the dump lacks the config space holding capabilities of \(short.count) function(s): \(list); "
              + "capture it as root with lspci -xxx (or -xxxx for ACS, ATS, PRI, PASID)"))
    }

    let (firmware, tables) = FirmwareTables.read(directory: sources.acpiTables)
    // Join each VT-d unit to the DRHD that describes it, by register base.
    for i in units.indices {
      guard let address = units[i].intel?.address.flatMap({ IOMMUUnits.hexValue($0) }) else { continue }
      units[i].intel?.drhd = FirmwareTables.drhd(at: address, in: tables)
      if units[i].intel?.drhd == nil, tables.contains(where: { $0.dmar != nil }) {
        warnings.append(
          .init(
            kind: "firmware-mismatch", message: "\(units[i].name): no DRHD in the DMAR table has base \(hex(address))"))
      }
    }
    for t in firmware {
      if t.status == "unreadable" {
        warnings.append(
          .init(kind: "needs-root", message: "needs root to read the \(t.signature) table: \(t.error ?? "")"))
      }
      if t.status == "malformed" { warnings.append(.init(kind: "malformed-table", message: t.error ?? t.signature)) }
    }

    let cmdline = try? HostFiles.text(sources.procRoot + "/cmdline").get()
    let handover = HandoverReport.read(sysfsRoot: sources.sysfsRoot, procRoot: sources.procRoot)
    if handover.iomem == "addresses-hidden" {
      warnings.append(
        .init(kind: "needs-root", message: "needs root to see the crash kernel reservation's addresses in /proc/iomem"))
    }

    let intent = CommandLineIntent.parse(cmdline)
    let verdict = Verdict.decide(
      units: units, groups: groups, firmware: firmware, functions: pci.functions, sources: sources, pciError: pci.error,
      intent: intent)
    if verdict.state == "no-iommu" {
      warnings.insert(
        .init(kind: "no-iommu", message: "no IOMMU present: " + verdict.evidence.joined(separator: "; ")), at: 0)
    } else if verdict.state == "present-not-enabled" {
      warnings.insert(
        .init(kind: "iommu-not-enabled", message: "IOMMU present but not enabled: " + verdict.summary), at: 0)
    }
    return HostReport(
      schemaVersion: currentSchemaVersion,
      sources: Sources(
        pci: pciSource.description, sysfsRoot: sources.sysfsRoot, procRoot: sources.procRoot,
        acpiTables: sources.acpiTables, effectiveUID: uid),
      verdict: verdict, warnings: warnings, iommus: units, groups: groups, pci: pci, firmware: firmware,
      kernel: KernelSection(release: release, commandLineIntent: intent, handover: handover))
  }
}

extension HostReport.Verdict {
  /// "enabled" when the kernel registered an IOMMU or made groups; "present-not-enabled" when
  /// firmware describes one (DMAR, IVRS, IORT) or a PCI function is one, but the kernel did not
  /// take it; "no-iommu" otherwise. Firmware tables and PCI functions are hardware evidence, the
  /// sysfs entries are the kernel's.
  static func decide(
    units: [IOMMUUnitReport], groups: [IOMMUGroupReport], firmware: [FirmwareTableReport],
    functions: [PCIFunctionReport], sources: HostSources, pciError: String?, intent: CommandLineIntent
  ) -> Self {
    var evidence: [String] = []
    evidence.append(
      units.isEmpty
        ? "\(sources.sysfsRoot)/class/iommu has no entries"
        : "\(sources.sysfsRoot)/class/iommu: " + units.map { "\($0.name) (\($0.driver))" }.joined(separator: ", "))
    evidence.append(
      groups.isEmpty
        ? "\(sources.sysfsRoot)/kernel/iommu_groups is empty"
        : "\(groups.count) IOMMU group(s) in \(sources.sysfsRoot)/kernel/iommu_groups")
    let tables = firmware.filter { $0.status != "absent" }
    evidence.append(
      tables.isEmpty
        ? "no DMAR, IVRS or IORT table in \(sources.acpiTables)"
        : "firmware tables: " + tables.map { "\($0.signature) (\($0.status))" }.joined(separator: ", "))
    let iommuFunctions = functions.filter { $0.iommu != nil }
    if let pciError {
      evidence.append("PCI functions unknown (\(pciError))")
    } else {
      evidence.append(
        iommuFunctions.isEmpty
          ? "no PCI function of class 0x0806 or with an IOMMU driver's ID among \(functions.count) function(s)"
          : "IOMMU PCI function(s): "
            + iommuFunctions.map { "\($0.address) (\($0.iommu?.kind ?? ""))" }.joined(separator: ", "))
    }
    if !units.isEmpty || !groups.isEmpty {
      let domains = Set(groups.compactMap(\.defaultDomain)).sorted().joined(separator: ", ")
      return .init(
        state: "enabled",
        summary: "the kernel registered \(units.count) IOMMU(s) and \(groups.count) group(s)"
          + (domains.isEmpty ? "" : "; default domain types: \(domains)"),
        evidence: evidence)
    }
    if !tables.isEmpty || !iommuFunctions.isEmpty {
      // The command line is intent, but when it asks for the IOMMU off it is the likely reason.
      let off = intent.parameters.filter {
        ["intel_iommu", "amd_iommu", "iommu"].contains($0.name) && $0.value.split(separator: ",").contains("off")
      }
      return .init(
        state: "present-not-enabled",
        summary: "the hardware or firmware describes an IOMMU, but the kernel registered none and made no groups"
          + (off.isEmpty
            ? ""
            : "; the command line asks for it off (" + off.map { "\($0.name)=\($0.value)" }.joined(separator: " ") + ")"),
        evidence: evidence)
    }
    return .init(
      state: "no-iommu",
      summary: pciError == nil ? "no IOMMU present" : "no IOMMU found, but the PCI functions could not be read",
      evidence: evidence)
  }
}
