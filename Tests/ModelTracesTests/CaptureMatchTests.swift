import Foundation
import IOMMUModelTesting
import ModelTraces
import OracleTraces
import Testing

/// The committed captures of the real Linux 7.2 drivers under QEMU 10, compared with the
/// models' traces of the same scenarios (issue 9: all nine match).
@Suite("the models against the real-kernel captures")
struct CaptureMatchTests {
  static func comparison(_ device: OracleDevice, _ scenario: OracleScenario) throws -> TraceComparison {
    let url = RepositoryPaths.fixtures.appendingPathComponent(
      "qemu-captures/\(device.rawValue)/\(scenario.rawValue).trace")
    let parser = QEMUTraceParser(device: device)
    let real = try parser.parse(RepositoryPaths.text(url))
    let provider = try #require(
      ModelTraceRegistry(modelTraceProvidersOfDrivers).provider(for: device, scenario: scenario))
    let model = try parser.parse(provider.trace(scenario))
    #expect(model.bootCount == scenario.bootCount)
    return TraceComparison(real: real, model: model, device: device)
  }

  static func expectAllMatch(_ device: OracleDevice, _ scenario: OracleScenario) throws {
    let c = try comparison(device, scenario)
    #expect(c.report == "match: \(c.real.count)/\(c.real.count)", "\(c.report)")
    #expect(c.allMatch)
  }

  @Test("riscv-iommu probe-shutdown: every access of the capture, and no other") func riscvProbeShutdown() throws {
    try Self.expectAllMatch(.riscvIOMMU, .probeShutdown)
  }
  @Test("riscv-iommu kexec: every access of the capture, and no other") func riscvKexec() throws {
    try Self.expectAllMatch(.riscvIOMMU, .kexec)
  }
  @Test("riscv-iommu kdump: every access of the capture, and no other") func riscvKdump() throws {
    try Self.expectAllMatch(.riscvIOMMU, .kdump)
  }
  @Test("arm-smmu-v3 probe-shutdown: every access of the capture, and no other") func smmuProbeShutdown() throws {
    try Self.expectAllMatch(.armSMMUv3, .probeShutdown)
  }
  @Test("arm-smmu-v3 kexec: every access of the capture, and no other") func smmuKexec() throws {
    try Self.expectAllMatch(.armSMMUv3, .kexec)
  }
  @Test("arm-smmu-v3 kdump: every access of the capture, and no other") func smmuKdump() throws {
    try Self.expectAllMatch(.armSMMUv3, .kdump)
  }
  @Test("intel-iommu probe-shutdown: every access of the capture, and no other") func vtdProbeShutdown() throws {
    try Self.expectAllMatch(.intelIOMMU, .probeShutdown)
  }
  @Test("intel-iommu kexec: every access of the capture, and no other") func vtdKexec() throws {
    try Self.expectAllMatch(.intelIOMMU, .kexec)
  }
  @Test("intel-iommu kdump: every access of the capture, and no other") func vtdKdump() throws {
    try Self.expectAllMatch(.intelIOMMU, .kdump)
  }
}
