import Foundation
import IOMMUModelTesting
import OracleTraces

/// QEMU's SMMUv3 trace events in the model's canonical form, read by the oracle's parser
/// (`QEMUTraceParser`): `smmuv3_read_mmio addr: 0x24 val:0x8 size: 0x4(0)` becomes
/// `R32 0x0024 0x00000008`, and the `smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC` annotation
/// `CMD SYNC`, so the commands are compared too.
func canonicalQEMUTrace(_ text: String) throws -> [String] {
  try QEMUTraceParser(device: .armSMMUv3).parse(text).events.compactMap { event in
    switch event {
    case .access(let a): return a.description
    case .annotation(let line) where line.hasPrefix("smmuv3_cmdq_opcode"):
      return line.split(separator: " ").last.map { "CMD " + $0.replacingOccurrences(of: "SMMU_CMD_", with: "") }
    case .annotation, .bootStart: return nil
    }
  }
}

/// Normalises a canonical SMMUv3 trace for comparison across boots: page-1 offsets folded onto
/// page 0 (QEMU traces them so), and the allocated addresses in the stream table and queue base
/// registers zeroed (RA/RWA and LOG2SIZE kept).
func normalisedSMMUv3Trace(_ lines: [String]) -> [String] {
  lines.map { line in
    guard let access = MMIOAccess(line: Substring(line)) else { return line }
    var a = access
    a.offset &= ~0x10000
    if a.kind == .write && [0x80, 0x90, 0xa0, 0xc0].contains(a.offset) {
      a.value &= ~UInt64.mask(5...51)
    }
    return a.description
  }
}

/// The reference trace of the real Linux 7.2 driver against QEMU 10.
func referenceTrace() throws -> [String] {
  let url = RepositoryPaths.shared.appendingPathComponent(
    "reference/linux-7.2-traces/arm-smmu-v3.probe-shutdown.trace")
  return try canonicalQEMUTrace(try RepositoryPaths.text(url))
}
