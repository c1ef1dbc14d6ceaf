import MMIO

/// Records what software did to an SMMUv3 the way QEMU's trace events show it: every register
/// access in canonical form, and each command the SMMU consumed as `CMD NAME`, placed before
/// the register write that made the SMMU consume it (QEMU logs the opcodes while handling the
/// write, and the write itself after).
public final class SMMUv3TraceRecorder {
  public let smmu: SMMUv3
  /// The register block to give the driver: every access through it is recorded.
  public let io: RecordingRegisterIO<SimulatedRegisterFile>
  private var commands: [(accessIndex: Int, name: String)] = []

  public init(_ smmu: SMMUv3) {
    self.smmu = smmu
    io = RecordingRegisterIO(smmu.registers)
    let trace = io.trace
    smmu.commandObserver = { [unowned self] command in
      // The recorder appends a write before the hardware handles it.
      commands.append((trace.count - 1, "CMD \(command)"))
    }
  }

  public var trace: AccessTrace { io.trace }

  /// Accesses and commands, merged in QEMU's order.
  public var lines: [String] {
    var out: [String] = []
    var next = 0
    for (i, access) in io.trace.accesses.enumerated() {
      while next < commands.count && commands[next].accessIndex == i {
        out.append(commands[next].name)
        next += 1
      }
      out.append(access.description)
    }
    out += commands[next...].map(\.name)
    return out
  }

  /// Forgets what was recorded so far.
  public func removeAll() {
    io.trace.removeAll()
    commands = []
  }
}
