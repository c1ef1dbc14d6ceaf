import Foundation
import IOMMUModelTesting

/// QEMU's SMMUv3 trace events in the model's canonical form: `smmuv3_read_mmio addr: 0x24
/// val:0x8 size: 0x4(0)` becomes `R32 0x0024 0x00000008`, `smmuv3_cmdq_opcode <---
/// SMMU_CMD_SYNC` becomes `CMD SYNC`.
func canonicalQEMUTrace(_ text: String) -> [String] {
  text.split(separator: "\n").compactMap { line in
    let words = line.split(separator: " ")
    if line.hasPrefix("smmuv3_cmdq_opcode"), let name = words.last {
      return "CMD " + name.replacingOccurrences(of: "SMMU_CMD_", with: "")
    }
    guard line.hasPrefix("smmuv3_read_mmio") || line.hasPrefix("smmuv3_write_mmio"),
      let addrWord = words.first(where: { $0.hasPrefix("0x") }),
      let valWord = words.first(where: { $0.hasPrefix("val:") }),
      let sizeIndex = words.firstIndex(of: "size:"), sizeIndex + 1 < words.count,
      let offset = Int(addrWord.dropFirst(2), radix: 16),
      let value = UInt64(valWord.dropFirst(6), radix: 16),
      let size = Int(words[sizeIndex + 1].prefix { $0 != "(" }.dropFirst(2), radix: 16),
      let width = AccessWidth(rawValue: size)
    else { return nil }
    let kind: MMIOAccess.Kind = line.hasPrefix("smmuv3_read") ? .read : .write
    return MMIOAccess(kind, width, offset: offset, value: value).description
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
  return canonicalQEMUTrace(try RepositoryPaths.text(url))
}
