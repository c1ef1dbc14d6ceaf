import MMIO

/// The IOMMUs whose QEMU trace events the oracle reads, named as the drivers are.
public enum OracleDevice: String, Sendable, CaseIterable, CustomStringConvertible {
  case intelIOMMU = "intel-iommu"
  case armSMMUv3 = "arm-smmu-v3"
  case riscvIOMMU = "riscv-iommu"

  public var description: String { rawValue }
}

/// The handover scenarios captured for each device.
public enum OracleScenario: String, Sendable, CaseIterable, CustomStringConvertible {
  /// Probe, then poweroff: the driver's shutdown path runs at the end.
  case probeShutdown = "probe-shutdown"
  /// kexec -l, kexec -e into the same kernel; the second kernel probes and powers off.
  case kexec
  /// crashkernel= reservation, kexec -p, a forced crash; the crash kernel probes the IOMMU the
  /// first kernel left running, then powers off.
  case kdump

  public var description: String { rawValue }

  /// How many kernels touch the IOMMU in this scenario.
  public var bootCount: Int { self == .probeShutdown ? 1 : 2 }
}

/// One register access from a trace. QEMU's `vtd_reg_read` event does not print the value read,
/// so a read's value may be unknown: it prints as `?` and matches any value.
public struct TraceAccess: Sendable, Hashable, CustomStringConvertible {
  public var access: MMIOAccess
  public var valueKnown: Bool

  public init(_ access: MMIOAccess, valueKnown: Bool = true) {
    self.access = access
    self.valueKnown = valueKnown
  }

  /// The canonical line (`W32 0x0048 0x00000103`), or `R32 0x001c ?` when the value is unknown.
  public var description: String {
    if valueKnown { return access.description }
    return "\(access.kind.rawValue)\(access.width.bits) \(hex(access.offset, digits: 4)) ?"
  }
}

/// One event of a trace, in order.
public enum TraceEvent: Sendable, Hashable, CustomStringConvertible {
  /// A kernel begins to drive the device (1 for the first kernel, 2 for the kexec'd or crash
  /// kernel).
  case bootStart(Int)
  /// A register access.
  case access(TraceAccess)
  /// A device event that is not an access: a queued command opcode, an invalidation
  /// descriptor, a root table pointer latched. Kept for context, not compared.
  case annotation(String)

  /// The canonical line: the access line, `# <annotation>`, or `## boot N`.
  public var description: String {
    switch self {
    case .bootStart(let n): "## boot \(n)"
    case .access(let a): a.description
    case .annotation(let text): "# \(text)"
    }
  }
}

/// A parsed trace: the events of one capture, or a model's trace, in the canonical form.
public struct OracleTrace: Sendable, Hashable, CustomStringConvertible {
  public var events: [TraceEvent]

  public init(events: [TraceEvent]) { self.events = events }

  /// The accesses only, in order.
  public var accesses: [TraceAccess] {
    events.compactMap { if case .access(let a) = $0 { a } else { nil } }
  }

  /// How many kernels began to drive the device.
  public var bootCount: Int {
    events.reduce(0) { if case .bootStart = $1 { $0 + 1 } else { $0 } }
  }

  /// The accesses of boot `n` (1-based).
  public func accesses(ofBoot n: Int) -> [TraceAccess] {
    var boot = 0
    var out: [TraceAccess] = []
    for e in events {
      switch e {
      case .bootStart(let b): boot = b
      case .access(let a) where boot == n: out.append(a)
      default: break
      }
    }
    return out
  }

  /// The canonical text, one event a line, ending with a newline.
  public var description: String { events.map(\.description).joined(separator: "\n") + "\n" }
}
