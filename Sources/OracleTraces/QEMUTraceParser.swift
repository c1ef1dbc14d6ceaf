import MMIO

/// A line of a trace that names a known event but cannot be read.
public struct TraceParseError: Error, Sendable, Hashable, CustomStringConvertible {
  public var line: Int
  public var text: String
  public var reason: String

  public var description: String { "line \(line): \(reason): \(text)" }
}

/// Reads QEMU 10's trace events (log backend, one event a line, with or without the
/// `pid@seconds:` prefix of `-msg timestamp=on`) for one IOMMU, and the canonical form.
///
/// - VT-d: `vtd_reg_read addr A size S` (the value is not printed: unknown), `vtd_reg_write
///   addr A size S value V`; the other `vtd_reg_*` and `vtd_inv_desc*` events are annotations.
/// - SMMUv3: `smmuv3_read_mmio addr: A val:V size: S(R)` and `smmuv3_write_mmio ...`; the
///   other `smmuv3_*` events (`smmuv3_cmdq_opcode`, `smmuv3_write_gerror*`) are annotations.
/// - RISC-V: `memory_region_ops_read|write ... addr A value V size S name 'riscv-iommu-regs'`
///   (A is BAR0 + offset; other regions are skipped); `riscv_iommu_*` events are annotations.
///
/// Lines of other events are skipped. Where a trace has no `## boot N` lines, boots are found
/// from the device's first probe access (see `BootDetector`).
public struct QEMUTraceParser: Sendable {
  public var device: OracleDevice
  /// BAR0 of the RISC-V IOMMU; nil: the first access's address rounded down to 4 KiB (the
  /// register file is 4 KiB and its first access, CAPABILITIES, is at offset 0).
  public var riscvBAR0: UInt64?

  public init(device: OracleDevice, riscvBAR0: UInt64? = nil) {
    self.device = device
    self.riscvBAR0 = riscvBAR0
  }

  /// Parses a QEMU trace or a canonical trace (the two may not be mixed within one boot).
  public func parse(_ text: String) throws(TraceParseError) -> OracleTrace {
    var events: [TraceEvent] = []
    var bar0 = riscvBAR0
    var explicitBoots = false
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = Self.stripPrefix(raw.trimmingCharacters())
      if line.isEmpty { continue }
      if let event = try CanonicalTrace.event(line, number: index + 1) {
        if case .bootStart = event { explicitBoots = true }
        events.append(event)
        continue
      }
      guard let event = try qemuEvent(line, number: index + 1, bar0: &bar0) else { continue }
      events.append(event)
    }
    if explicitBoots { return OracleTrace(events: events) }
    return OracleTrace(events: BootDetector(device: device).insertBootStarts(events))
  }

  private func qemuEvent(_ line: Substring, number: Int, bar0: inout UInt64?) throws(TraceParseError)
    -> TraceEvent?
  {
    let name = line.prefix { $0 != " " }
    let fail = { (reason: String) in TraceParseError(line: number, text: String(line), reason: reason) }
    switch device {
    case .intelIOMMU:
      if name == "vtd_reg_read" || name == "vtd_reg_write" {
        let f = Fields(line)
        guard let addr = f.hex(after: "addr"), let size = f.hex(after: "size"),
          let width = AccessWidth(rawValue: Int(size))
        else { throw fail("unreadable \(name)") }
        if name == "vtd_reg_read" {
          return .access(TraceAccess(MMIOAccess(.read, width, offset: Int(addr), value: 0), valueKnown: false))
        }
        guard let value = f.hex(after: "value") else { throw fail("vtd_reg_write without value") }
        return .access(TraceAccess(MMIOAccess(.write, width, offset: Int(addr), value: value)))
      }
      if name.hasPrefix("vtd_reg_") || name.hasPrefix("vtd_inv_desc") { return .annotation(String(line)) }
    case .armSMMUv3:
      if name == "smmuv3_read_mmio" || name == "smmuv3_write_mmio" {
        let f = Fields(line)
        guard let addr = f.hex(after: "addr:"), let value = f.hex(after: "val:"),
          let size = f.hex(after: "size:"), let width = AccessWidth(rawValue: Int(size))
        else { throw fail("unreadable \(name)") }
        let kind: MMIOAccess.Kind = name == "smmuv3_read_mmio" ? .read : .write
        return .access(TraceAccess(MMIOAccess(kind, width, offset: Int(addr), value: value)))
      }
      if name.hasPrefix("smmuv3_") { return .annotation(String(line)) }
    case .riscvIOMMU:
      if name == "memory_region_ops_read" || name == "memory_region_ops_write" {
        guard line.hasSuffix("name 'riscv-iommu-regs'") else { return nil }
        let f = Fields(line)
        guard let addr = f.hex(after: "addr"), let value = f.hex(after: "value"),
          let size = f.decimal(after: "size"), let width = AccessWidth(rawValue: size)
        else { throw fail("unreadable \(name)") }
        let base = bar0 ?? (addr & ~0xfff)
        bar0 = base
        guard addr >= base, addr - base < 0x1000 else { throw fail("address outside BAR0 \(hex(base))") }
        let kind: MMIOAccess.Kind = name == "memory_region_ops_read" ? .read : .write
        return .access(TraceAccess(MMIOAccess(kind, width, offset: Int(addr - base), value: value)))
      }
      if name.hasPrefix("riscv_iommu_") { return .annotation(String(line)) }
    }
    return nil
  }

  /// Drops the `pid@seconds:` prefix QEMU's log backend adds with `-msg timestamp=on`.
  static func stripPrefix(_ line: Substring) -> Substring {
    guard let at = line.firstIndex(of: "@"), line[..<at].allSatisfy(\.isNumber),
      let colon = line[at...].firstIndex(of: ":"),
      line[line.index(after: at)..<colon].allSatisfy({ $0.isNumber || $0 == "." })
    else { return line }
    return line[line.index(after: colon)...]
  }
}

/// Whitespace-separated tokens of one event line, looked up by the label before them.
private struct Fields {
  var tokens: [Substring]

  init(_ line: Substring) {
    // "val:0x1" and "size: 0x4(0)" are split so that every value follows its label.
    var out: [Substring] = []
    for t in line.split(separator: " ") {
      if t.hasSuffix(":") || !t.contains(":") {
        out.append(t)
      } else if let colon = t.firstIndex(of: ":") {
        out.append(t[...colon])
        out.append(t[t.index(after: colon)...])
      }
    }
    tokens = out
  }

  func token(after label: String) -> Substring? {
    guard let i = tokens.firstIndex(where: { $0 == label }), i + 1 < tokens.count else { return nil }
    return tokens[i + 1].prefix { $0 != "(" }
  }

  func hex(after label: String) -> UInt64? {
    guard let t = token(after: label), t.hasPrefix("0x") else { return nil }
    return UInt64(t.dropFirst(2), radix: 16)
  }

  func decimal(after label: String) -> Int? { token(after: label).flatMap { Int($0) } }
}

extension Substring {
  func trimmingCharacters() -> Substring {
    var s = self
    while let c = s.last, c == " " || c == "\r" || c == "\t" { s = s.dropLast() }
    while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
    return s
  }
}
