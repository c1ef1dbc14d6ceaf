import Foundation
import IOMMUModelTesting
import MMIO
import Testing

@testable import OracleTraces

/// Every capture of Tests/Fixtures/qemu-captures (made by Tools/capture).
private let captures: [(OracleDevice, OracleScenario)] = OracleDevice.allCases.flatMap { d in
  OracleScenario.allCases.map { (d, $0) }
}

private func capture(_ device: OracleDevice, _ scenario: OracleScenario, _ ext: String) throws -> String {
  try RepositoryPaths.text(
    RepositoryPaths.fixtures.appendingPathComponent("qemu-captures/\(device)/\(scenario).\(ext)"))
}

@Suite("The committed QEMU captures of the real Linux 7.2 drivers")
struct CaptureFixtureTests {
  @Test("each capture parses, holds one kernel per boot of its scenario, and each kernel probes", arguments: captures)
  func parses(device: OracleDevice, scenario: OracleScenario) throws {
    let trace = try QEMUTraceParser(device: device).parse(capture(device, scenario, "trace"))
    #expect(trace.bootCount == scenario.bootCount)
    for boot in 1...trace.bootCount {
      let accesses = trace.accesses(ofBoot: boot)
      #expect(accesses.count > 10, "boot \(boot)")
      #expect(accesses.first?.access.kind == .read, "boot \(boot)")
    }
    let console = try capture(device, scenario, "console.log")
    let boots = console.split(separator: "\n").filter { $0.hasPrefix("=== BOOT ") }
    #expect(boots.count == scenario.bootCount)
    #expect(console.contains("=== END \(scenario)"))
  }

  @Test("the probe-shutdown captures end with the driver's shutdown writes", arguments: OracleDevice.allCases)
  func shutdown(device: OracleDevice) throws {
    let trace = try QEMUTraceParser(device: device).parse(capture(device, .probeShutdown, "trace"))
    let writes = trace.accesses.filter { $0.access.kind == .write }.map(\.access)
    switch device {
    case .riscvIOMMU:
      // riscv_iommu_disable(): DDTP := BARE, then CQCSR, FQCSR, PQCSR := 0.
      #expect(writes.suffix(4).map(\.offset) == [0x10, 0x48, 0x4c, 0x50])
      #expect(writes.suffix(4).map(\.value) == [1, 0, 0, 0])
    case .armSMMUv3:
      // arm_smmu_device_shutdown() -> arm_smmu_device_disable(): CR0 := 0.
      #expect(writes.last == MMIOAccess(.write, .dword, offset: 0x20, value: 0))
    case .intelIOMMU:
      // intel_iommu_shutdown(): GCMD with TE cleared; QIE and IRE stay.
      let last = try #require(writes.last)
      #expect(last.offset == 0x18 && last.value & (1 << 31) == 0 && last.value & 0x0600_0000 == 0x0600_0000)
    }
  }

  @Test("each capture matches itself through the comparator, every access counted", arguments: captures)
  func selfComparison(device: OracleDevice, scenario: OracleScenario) throws {
    let trace = try QEMUTraceParser(device: device).parse(capture(device, scenario, "trace"))
    let c = TraceComparison(real: trace, model: trace, device: device)
    #expect(c.allMatch)
    #expect(c.report == "match: \(trace.accesses.count)/\(trace.accesses.count)")
  }
}
