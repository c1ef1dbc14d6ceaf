/// What the kernel command line asks of the IOMMU drivers: intent, shown apart from the state
/// observed in sysfs (a parameter can be misspelt, ignored or overridden by firmware).
public struct CommandLineIntent: Sendable, Hashable, Encodable {
  public var raw: String?
  public var parameters: [Parameter]

  public struct Parameter: Sendable, Hashable, Encodable {
    public var name: String
    public var value: String
    public var meaning: String
  }

  static let names: Set<String> = [
    "intel_iommu", "amd_iommu", "iommu", "iommu.passthrough", "iommu.strict", "iommu.forcedac",
    "intremap", "amd_iommu_intr",
  ]

  static func parse(_ raw: String?) -> CommandLineIntent {
    var out: [Parameter] = []
    for token in (raw ?? "").split(separator: " ") {
      if token == "--" { break }
      let kv = token.split(separator: "=", maxSplits: 1).map(String.init)
      guard let name = kv.first, names.contains(name) else { continue }
      let value = kv.count > 1 ? kv[1] : ""
      out.append(Parameter(name: name, value: value, meaning: meaning(name, value)))
    }
    return CommandLineIntent(raw: raw, parameters: out)
  }

  static func meaning(_ name: String, _ value: String) -> String {
    let options = value.split(separator: ",").map(String.init)
    func each(_ table: [String: String]) -> String {
      options.map { table[$0] ?? "'\($0)' is not a value this parameter knows" }.joined(separator: "; ")
    }
    switch name {
    case "intel_iommu":
      return each([
        "on": "enable Intel VT-d DMA remapping", "off": "disable Intel VT-d DMA remapping",
        "igfx_off": "leave the integrated graphics unit untranslated", "sm_on": "use scalable mode if supported",
        "sm_off": "do not use scalable mode", "tboot_noforce": "do not force the IOMMU on under tboot",
        "forcedac": "force 64-bit DMA addresses (deprecated spelling of iommu.forcedac)",
      ])
    case "amd_iommu":
      return each([
        "off": "disable the AMD IOMMU driver", "fullflush": "strict invalidation (deprecated, iommu.strict=1)",
        "force_isolation": "force a translated domain for every device",
        "force_enable": "enable even where the firmware marks it broken", "pgtbl_v1": "use v1 (host) page tables",
        "pgtbl_v2": "use v2 (guest-format) page tables", "irtcachedis": "disable the IRT cache",
        "nohugepages": "map with 4 KiB pages only", "v2_pgsizes_only": "v2 page sizes only",
      ])
    case "iommu":
      return each([
        "pt": "identity (passthrough) default domain: DMA is not translated",
        "nopt": "translated default domain", "off": "no IOMMU for DMA (x86)", "force": "force the IOMMU on (x86)",
        "noforce": "do not force the IOMMU", "soft": "software bounce buffering (swiotlb)",
        "memaper": "GART aperture option", "merge": "GART merge option", "nomerge": "GART option",
      ])
    case "iommu.passthrough":
      return value == "1" || value == "y"
        ? "identity (passthrough) default domain"
        : value == "0" || value == "n" ? "translated default domain" : "unrecognised value"
    case "iommu.strict":
      return value == "1" || value == "y"
        ? "strict: unmap waits for the IOTLB invalidation"
        : value == "0" || value == "n" ? "lazy: invalidations batched in a flush queue (DMA-FQ)" : "unrecognised value"
    case "iommu.forcedac": return "force 64-bit IOVAs for PCI devices"
    case "intremap":
      return each([
        "off": "disable interrupt remapping", "on": "enable interrupt remapping",
        "nosid": "no source-id check", "no_x2apic_optout": "ignore the firmware's x2APIC opt-out",
        "nopost": "no posted interrupts",
      ])
    default: return "not interpreted"
    }
  }
}

/// Whether a kexec or kdump handover is prepared (/sys/kernel/kexec_*, /proc/iomem).
public struct HandoverReport: Sendable, Hashable, Encodable {
  public var kexecLoaded: Bool?
  public var kexecCrashLoaded: Bool?
  /// Bytes reserved for the crash kernel (`kexec_crash_size`).
  public var kexecCrashSize: UInt64?
  /// `Crash kernel` ranges in /proc/iomem.
  public var crashKernelRegions: [Region]
  /// `readable`, `addresses-hidden` (non-root readers see zeros), `unreadable` or `absent`.
  public var iomem: String

  public struct Region: Sendable, Hashable, Encodable {
    public var start: String
    public var end: String
  }

  static func read(sysfsRoot: String, procRoot: String) -> HandoverReport {
    func flag(_ name: String) -> Bool? {
      (try? HostFiles.text(sysfsRoot + "/kernel/" + name).get()).flatMap { Int($0) }.map { $0 != 0 }
    }
    var report = HandoverReport(
      kexecLoaded: flag("kexec_loaded"), kexecCrashLoaded: flag("kexec_crash_loaded"),
      kexecCrashSize: (try? HostFiles.text(sysfsRoot + "/kernel/kexec_crash_size").get()).flatMap { UInt64($0) },
      crashKernelRegions: [], iomem: "absent")
    switch HostFiles.text(procRoot + "/iomem") {
    case .success(let text):
      var sawNonZero = false
      var sawAny = false
      for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { continue }
        let range = parts[0].trimmingSpaces.split(separator: "-")
        guard range.count == 2 else { continue }
        sawAny = true
        if range[0].contains(where: { $0 != "0" }) || range[1].contains(where: { $0 != "0" }) { sawNonZero = true }
        if parts[1].trimmingSpaces == "Crash kernel" {
          report.crashKernelRegions.append(.init(start: "0x" + range[0], end: "0x" + range[1]))
        }
      }
      report.iomem = sawAny && !sawNonZero ? "addresses-hidden" : "readable"
    case .failure(.absent): report.iomem = "absent"
    case .failure: report.iomem = "unreadable"
    }
    return report
  }
}

extension Substring {
  var trimmingSpaces: Substring {
    var s = self
    while s.first == " " { s.removeFirst() }
    while s.last == " " { s.removeLast() }
    return s
  }
}
