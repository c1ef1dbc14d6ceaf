import MMIO

/// The canonical trace text: one event a line, as `TraceEvent.description` prints it.
///
/// ```
/// ## boot 1
/// R64 0x0008 ?
/// W32 0x0088 0x00000000
/// # vtd_inv_desc invalidate desc type iec high 0x0 low 0x4
/// ```
public enum CanonicalTrace {
  /// Parses canonical text (a model's trace, or a capture already converted). Boots are taken
  /// from `## boot N` lines, or found by `BootDetector` for `device` when there are none.
  public static func parse(_ text: String, device: OracleDevice) throws(TraceParseError) -> OracleTrace {
    var events: [TraceEvent] = []
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.trimmingCharacters()
      if line.isEmpty { continue }
      guard let event = try event(line, number: index + 1) else {
        throw TraceParseError(line: index + 1, text: String(line), reason: "not a canonical trace line")
      }
      events.append(event)
    }
    if events.contains(where: { if case .bootStart = $0 { true } else { false } }) {
      return OracleTrace(events: events)
    }
    return OracleTrace(events: BootDetector(device: device).insertBootStarts(events))
  }

  /// One canonical line as an event; nil when the line is not in the canonical form at all.
  static func event(_ line: Substring, number: Int) throws(TraceParseError) -> TraceEvent? {
    if line.hasPrefix("## boot ") {
      guard let n = Int(line.dropFirst(8)) else {
        throw TraceParseError(line: number, text: String(line), reason: "unreadable boot marker")
      }
      return .bootStart(n)
    }
    if line.hasPrefix("# ") { return .annotation(String(line.dropFirst(2))) }
    guard let k = line.first, k == "R" || k == "W", line.dropFirst().first?.isNumber == true else { return nil }
    if let access = MMIOAccess(line: line) { return .access(TraceAccess(access)) }
    let parts = line.split(separator: " ")
    if parts.count == 3, parts[2] == "?", k == "R", let bits = Int(parts[0].dropFirst()),
      let width = AccessWidth(bits: bits), parts[1].hasPrefix("0x"),
      let offset = Int(parts[1].dropFirst(2), radix: 16)
    {
      return .access(TraceAccess(MMIOAccess(.read, width, offset: offset, value: 0), valueKnown: false))
    }
    throw TraceParseError(line: number, text: String(line), reason: "unreadable access line")
  }
}

/// Finds where each kernel begins to drive the device, from its first probe access:
/// - RISC-V: the read of CAPABILITIES (0x0), once per probe (riscv_iommu_pci_probe).
/// - SMMUv3: the read of IDR0 (0x0), once per probe (arm_smmu_device_hw_probe).
/// - VT-d: a read of CAP (0x8) not directly after a read of ECAP (0x10): map_iommu() reads
///   CAP, ECAP, and alloc_iommu() reads them again at once; nothing else reads CAP.
public struct BootDetector: Sendable {
  public var device: OracleDevice

  public init(device: OracleDevice) { self.device = device }

  public func insertBootStarts(_ events: [TraceEvent]) -> [TraceEvent] {
    var out: [TraceEvent] = []
    var previous: MMIOAccess?
    var boots = 0
    for event in events {
      if case .access(let a) = event {
        if isProbeStart(a.access, after: previous) {
          boots += 1
          out.append(.bootStart(boots))
        }
        previous = a.access
      }
      out.append(event)
    }
    return out
  }

  func isProbeStart(_ a: MMIOAccess, after previous: MMIOAccess?) -> Bool {
    guard a.kind == .read else { return false }
    switch device {
    case .riscvIOMMU, .armSMMUv3:
      return a.offset == 0
    case .intelIOMMU:
      return a.offset == 0x8 && !(previous?.kind == .read && previous?.offset == 0x10)
    }
  }
}
