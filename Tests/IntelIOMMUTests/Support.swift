import Foundation
import IOMMUModelTesting
import IntelIOMMU
import SimulatedHardware

/// Normalises QEMU `vtd_*` trace lines for comparison: the kernel's allocated addresses
/// (invalidation queue, interrupt remapping table, root table, wait status words) become
/// symbols, found from the IQA, IRTA and RTADDR writes and the first wait descriptor.
func normalizeQEMUTrace(_ lines: [String]) -> [String] {
  var bases: [(UInt64, String)] = []
  var wait0: UInt64?
  func value(after key: String, in line: String) -> UInt64? {
    guard let r = line.range(of: key + " 0x") else { return nil }
    return UInt64(line[r.upperBound...].prefix { $0.isHexDigit }, radix: 16)
  }
  for line in lines {
    if line.hasPrefix("vtd_reg_write addr 0x90 "), let v = value(after: "value", in: line) {
      bases.append((v & ~0xfff, "<iq>"))
    }
    if line.hasPrefix("vtd_reg_write addr 0xb8 "), let v = value(after: "value", in: line) {
      bases.append((v & ~0xfff, "<irt>"))
    }
    if line.hasPrefix("vtd_reg_write addr 0x20 "), let v = value(after: "value", in: line) {
      bases.append((v & ~0xfff, "<root>"))
    }
    if wait0 == nil, line.contains("desc type wait"), let v = value(after: "high", in: line) { wait0 = v }
  }
  return lines.map { line in
    var out = ""
    var rest = Substring(line)
    while let r = rest.range(of: "0x") {
      out += rest[..<r.lowerBound]
      let digits = rest[r.upperBound...].prefix { $0.isHexDigit }
      let v = UInt64(digits, radix: 16) ?? 0
      if let (_, name) = bases.first(where: { $0.0 == v & ~0xfff }), v >= 0x100000 {
        out += "\(name)+0x\(String(v & 0xfff, radix: 16))"
      } else if let w = wait0, v >= w, v < w + 0x1000, v > 0xfff {
        out += "<wait0>+0x\(String(v - w, radix: 16))"
      } else {
        out += "0x" + digits
      }
      rest = rest[r.upperBound...].dropFirst(digits.count)
    }
    return out + rest
  }
}

/// The reference capture's trace lines.
func referenceTrace() throws -> [String] {
  let url = RepositoryPaths.shared.appendingPathComponent("reference/linux-7.2-traces/intel-iommu.poweroff.trace")
  return try RepositoryPaths.text(url).split(separator: "\n").map(String.init)
}

/// The boot steps of the reference capture.
func referenceSteps() throws -> [X86BootStep] {
  let url = RepositoryPaths.fixtures.appendingPathComponent("intel-iommu-q35/boot-steps.txt")
  return try RepositoryPaths.text(url).split(separator: "\n").compactMap { line in
    line.hasPrefix("#") || line.isEmpty ? nil : X86BootStep(line)
  }
}
