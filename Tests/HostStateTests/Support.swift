import Foundation
import HostState
import IOMMUModelTesting

enum HostFixtures {
  static let host = RepositoryPaths.fixtures.appendingPathComponent("host").path
  static let dumps = host + "/dumps"
  static let laptop = host + "/intel-laptop"
  static let amd = host + "/amd-server"
  static let pciutils = RepositoryPaths.fixtures.appendingPathComponent("pciutils").path

  /// A report of captured files only: nothing of this machine leaks in.
  static func report(
    sys: String = "/nonexistent", proc: String = "/nonexistent", acpi: String? = nil, dump: String? = nil
  )
    -> HostReport
  {
    HostReport.collect(HostSources(sysfsRoot: sys, procRoot: proc, acpiTables: acpi, pciDump: dump))
  }

  /// A fresh temporary directory, removed by the caller.
  static func temporaryDirectory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("host-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
  }
}

extension PCIFunctionReport {
  func register(_ capability: String, _ register: String) -> [String: UInt64] {
    let r = capabilities.first { $0.name == capability }?.registers.first { $0.name == register }
    return Dictionary(uniqueKeysWithValues: (r?.fields ?? []).map { ($0.name, $0.value) })
  }
}

extension RegisterReport {
  var values: [String: UInt64] { Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.value) }) }
}

/// SplitMix64: seeded, so a failure reproduces.
struct SeededRandom: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
