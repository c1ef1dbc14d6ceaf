import MMIO

/// A register field that holds a physical address the kernel allocated (a queue or table base,
/// an MSI doorbell). Its value depends on the allocator, so comparisons replace it by a symbol.
public struct AddressField: Sendable, Hashable {
  /// The register's name, used in symbols (`CQB.1`).
  public var name: String
  /// The offset of the 64-bit register.
  public var offset: Int
  /// The address bits within the 64-bit register; the other bits (mode, size, flags) are kept.
  public var mask: UInt64
  /// Whether the field is numbered afresh in each boot, from writes only: for tables a next
  /// kernel takes from its page allocator, whose returning the page the previous kernel used is
  /// luck. Fields whose reuse across kernels is deterministic (the CMA area the SMMUv3 driver's
  /// queues come from) keep one numbering for the whole trace, so a model that moves them diverges.
  public var numberedPerBoot: Bool

  public init(_ name: String, _ offset: Int, mask: UInt64, numberedPerBoot: Bool = false) {
    self.name = name
    self.offset = offset
    self.mask = mask
    self.numberedPerBoot = numberedPerBoot
  }

  /// The address bits an access of `width` at `offset` sees of this field: a 64-bit access at
  /// the register, or either 32-bit half (lo_hi_writeq); nil when the access misses the field.
  func mask(for width: AccessWidth, at offset: Int) -> UInt64? {
    switch (width, offset - self.offset) {
    case (.qword, 0): mask
    case (.dword, 0): mask & 0xffff_ffff
    case (.dword, 4): mask >> 32
    default: nil
    }
  }

  /// The allocated address fields of each device, from the specifications:
  /// - VT-d: RTADDR (0x20), IQA (0x90), IRTA (0xb8), PQA (0xe0): bits 63:12, numbered per boot
  ///   (pages from the buddy allocator: two captures of one VT-d kexec under one kernel had
  ///   boot 2's root table at boot 1's page in one run and elsewhere in the next).
  /// - SMMUv3: STRTAB_BASE (0x80) bits 51:6; CMDQ/EVTQ/PRIQ_BASE (0x90/0xa0/0xc0) bits 51:5;
  ///   GERROR/EVTQ/PRIQ_IRQ_CFG0 (0x68/0xb0/0xd0) bits 51:2 (MSI doorbells).
  /// - RISC-V: DDTP (0x10), CQB (0x18), FQB (0x28), PQB (0x38): PPN bits 53:10; MSI_CFG_TBL
  ///   addresses (0x300 + 16 n) bits 55:2.
  public static func fields(of device: OracleDevice) -> [AddressField] {
    switch device {
    case .intelIOMMU:
      let page: UInt64 = 0xffff_ffff_ffff_f000
      return [
        AddressField("RTADDR", 0x20, mask: page, numberedPerBoot: true),
        AddressField("IQA", 0x90, mask: page, numberedPerBoot: true),
        AddressField("IRTA", 0xb8, mask: page, numberedPerBoot: true),
        AddressField("PQA", 0xe0, mask: page, numberedPerBoot: true),
      ]
    case .armSMMUv3:
      let queue: UInt64 = 0x000f_ffff_ffff_ffe0
      let msi: UInt64 = 0x000f_ffff_ffff_fffc
      return [
        AddressField("STRTAB_BASE", 0x80, mask: 0x000f_ffff_ffff_ffc0),
        AddressField("CMDQ_BASE", 0x90, mask: queue), AddressField("EVTQ_BASE", 0xa0, mask: queue),
        AddressField("PRIQ_BASE", 0xc0, mask: queue), AddressField("GERROR_IRQ_CFG0", 0x68, mask: msi),
        AddressField("EVTQ_IRQ_CFG0", 0xb0, mask: msi), AddressField("PRIQ_IRQ_CFG0", 0xd0, mask: msi),
      ]
    case .riscvIOMMU:
      let ppn: UInt64 = 0x003f_ffff_ffff_fc00
      return [
        AddressField("DDTP", 0x10, mask: ppn), AddressField("CQB", 0x18, mask: ppn),
        AddressField("FQB", 0x28, mask: ppn), AddressField("PQB", 0x38, mask: ppn),
      ] + (0..<16).map { AddressField("MSI_ADDR_\($0)", 0x300 + 16 * $0, mask: 0x00ff_ffff_ffff_fffc) }
    }
  }
}

/// An access with its allocated address bits replaced by a symbol.
///
/// The rule: for each address field, the distinct non-zero values its address bits take are
/// numbered in order of first appearance in the trace, per register (`CQB.1`, `CQB.2` for the
/// second kernel's queue...). Fields marked `numberedPerBoot` are numbered afresh in each boot
/// and from writes only; a read of such a register that returns an address this kernel has
/// not written is `NAME.prev` (the previous kernel's). A zero address stays zero: it means
/// "none" to the hardware. Two
/// accesses match when kind, width, offset, the value outside the address bits and the symbol
/// agree; a read whose value is unknown (VT-d) matches any value.
public struct NormalisedAccess: Sendable, Hashable, CustomStringConvertible {
  public var kind: MMIOAccess.Kind
  public var width: AccessWidth
  public var offset: Int
  /// The value with the address bits cleared; nil when the trace did not record it.
  public var value: UInt64?
  /// The symbol standing for the address bits, if they were not zero.
  public var symbol: String?

  public func matches(_ other: NormalisedAccess) -> Bool {
    guard kind == other.kind, width == other.width, offset == other.offset else { return false }
    guard let a = value, let b = other.value else { return true }
    return a == b && symbol == other.symbol
  }

  public var description: String {
    let head = "\(kind.rawValue)\(width.bits) \(hex(offset, digits: 4))"
    guard let value else { return head + " ?" }
    let v = hex(value, digits: width.rawValue * 2)
    return symbol.map { "\(head) \(v)+{\($0)}" } ?? "\(head) \(v)"
  }
}

/// Normalises the accesses of one trace (see `NormalisedAccess` for the rule).
public struct AddressNormaliser: Sendable {
  public var fields: [AddressField]

  public init(device: OracleDevice) { fields = AddressField.fields(of: device) }
  public init(fields: [AddressField]) { self.fields = fields }

  /// Normalises a whole trace (boots from its `## boot N` markers).
  public func normalise(_ trace: OracleTrace) -> [NormalisedAccess] {
    var boot = 1
    var accesses: [(TraceAccess, Int)] = []
    for event in trace.events {
      switch event {
      case .bootStart(let n): boot = n
      case .access(let a): accesses.append((a, boot))
      case .annotation: break
      }
    }
    return normalise(accesses)
  }

  /// Normalises the accesses of one boot.
  public func normalise(_ accesses: [TraceAccess]) -> [NormalisedAccess] {
    normalise(accesses.map { ($0, 1) })
  }

  func normalise(_ accesses: [(access: TraceAccess, boot: Int)]) -> [NormalisedAccess] {
    var seen: [String: [UInt64: Int]] = [:]
    return accesses.map { t, boot in
      let a = t.access
      var n = NormalisedAccess(kind: a.kind, width: a.width, offset: a.offset, value: nil, symbol: nil)
      guard t.valueKnown else { return n }
      n.value = a.value
      for f in fields {
        guard let m = f.mask(for: a.width, at: a.offset) else { continue }
        let address = a.value & m
        n.value = a.value & ~m
        if address != 0 {
          let half = a.width == .dword ? (a.offset == f.offset ? ".lo" : ".hi") : ""
          let key = f.name + half
          let scope = f.numberedPerBoot ? "\(boot):\(key)" : key
          if let known = seen[scope]?[address] {
            n.symbol = "\(key).\(known)"
          } else if f.numberedPerBoot && a.kind == .read {
            n.symbol = "\(key).prev"
          } else {
            let ordinal = seen[scope, default: [:]].count + 1
            seen[scope, default: [:]][address] = ordinal
            n.symbol = "\(key).\(ordinal)"
          }
        }
        break
      }
      return n
    }
  }
}
