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
  static func report(sys: String = "/nonexistent", proc: String = "/nonexistent", acpi: String? = nil, dump: String? = nil)
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
