import Foundation
import IOMMUModelTesting
import ModelTraces
import OracleTraces
import Testing

/// Each kernel of a capture logs what its model logs: the IOMMU driver's lines and the IOMMU
/// core's "Adding to iommu group" lines of the console (dmesg, info and above), in order.
@Suite("the models log what the real kernels logged")
struct ConsoleLogTests {
  static let cases = OracleDevice.allCases.flatMap { d in OracleScenario.allCases.map { (d, $0) } }

  /// Whether a dmesg line belongs to what the model covers for `device`.
  static func inScope(_ line: String, _ device: OracleDevice) -> Bool {
    if line.hasPrefix("pci "), line.contains(": Adding to iommu group ") { return true }
    switch device {
    case .intelIOMMU: return line.hasPrefix("DMAR: ") || line.hasPrefix("DMAR-IR: ")
    case .armSMMUv3: return line.hasPrefix("arm-smmu-v3 ")
    case .riscvIOMMU: return line.hasPrefix("iommu_pci ") || line.hasPrefix("riscv-iommu ")
    }
  }

  /// The in-scope dmesg lines of each kernel of a console log (a kernel starts at `=== BOOT`).
  static func consoleBoots(_ text: String, _ device: OracleDevice) -> [[String]] {
    var boots: [[String]] = []
    for raw in text.split(separator: "\n") {
      if raw.hasPrefix("=== BOOT") {
        boots.append([])
        continue
      }
      guard !boots.isEmpty, raw.hasPrefix("["), let close = raw.firstIndex(of: "]") else { continue }
      let line = String(raw[raw.index(after: close)...].drop { $0 == " " })
      if inScope(line, device) { boots[boots.count - 1].append(line) }
    }
    return boots
  }

  @Test("each kernel's driver and group lines equal the model's, in order", arguments: cases)
  func kernelLogsMatch(device: OracleDevice, scenario: OracleScenario) throws {
    let url = RepositoryPaths.fixtures.appendingPathComponent(
      "qemu-captures/\(device.rawValue)/\(scenario.rawValue).console.log")
    let real = Self.consoleBoots(try RepositoryPaths.text(url), device)
    let provider = try #require(
      ModelTraceRegistry(modelTraceProvidersOfDrivers).provider(for: device, scenario: scenario))
    let model = try CanonicalTrace.parse(provider.trace(scenario), device: device)
    #expect(real.count == scenario.bootCount)
    for boot in 1...scenario.bootCount {
      #expect(model.kernelLog(ofBoot: boot).filter { Self.inScope($0, device) } == real[boot - 1])
    }
  }

  @Test("the crash kernels meet the IOMMU left on as the real ones did")
  func crashKernelMessages() throws {
    func log(_ device: OracleDevice) throws -> [String] {
      let provider = try #require(
        ModelTraceRegistry(modelTraceProvidersOfDrivers).provider(for: device, scenario: .kdump))
      return try CanonicalTrace.parse(provider.trace(.kdump), device: device).kernelLog(ofBoot: 2)
    }
    #expect(try log(.armSMMUv3).contains("arm-smmu-v3 9050000.smmuv3: SMMU currently enabled! Resetting..."))
    let vtd = try log(.intelIOMMU)
    #expect(vtd.contains("DMAR-IR: Copied IR table for dmar0 from previous kernel"))
    #expect(vtd.contains("DMAR: Translation already enabled - trying to copy translation structures"))
  }
}
