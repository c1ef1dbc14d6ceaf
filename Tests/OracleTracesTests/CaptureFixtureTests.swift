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

  @Test(
    "poweroff and kexec end the first kernel with the driver's shutdown writes; a crash skips them", arguments: captures
  )
  func shutdown(device: OracleDevice, scenario: OracleScenario) throws {
    let trace = try QEMUTraceParser(device: device).parse(capture(device, scenario, "trace"))
    let writes = trace.accesses(ofBoot: 1).filter { $0.access.kind == .write }.map(\.access)
    // __crash_kexec() runs no shutdown callback (kernel-facts §5.3).
    #expect(Self.endsWithShutdown(device, writes) == (scenario != .kdump))
  }

  static func endsWithShutdown(_ device: OracleDevice, _ writes: [MMIOAccess]) -> Bool {
    switch device {
    case .riscvIOMMU:
      // riscv_iommu_disable(): DDTP := BARE, then CQCSR, FQCSR, PQCSR := 0.
      return writes.suffix(4).map(\.offset) == [0x10, 0x48, 0x4c, 0x50]
        && writes.suffix(4).map(\.value) == [1, 0, 0, 0]
    case .armSMMUv3:
      // arm_smmu_device_shutdown() -> arm_smmu_device_disable(): CR0 := 0.
      return writes.last == MMIOAccess(.write, .dword, offset: 0x20, value: 0)
    case .intelIOMMU:
      // intel_iommu_shutdown(): GCMD with TE cleared; QIE and IRE stay.
      guard let last = writes.last else { return false }
      return last.offset == 0x18 && last.value & (1 << 31) == 0 && last.value & 0x0600_0000 == 0x0600_0000
    }
  }

  @Test("the crash kernel finds the IOMMU the first kernel left on", arguments: OracleDevice.allCases)
  func leftRunning(device: OracleDevice) throws {
    let trace = try QEMUTraceParser(device: device).parse(capture(device, .kdump, "trace"))
    let second = trace.accesses(ofBoot: 2).map(\.access)
    switch device {
    case .riscvIOMMU:
      // riscv_iommu_init_check() reads DDTP: a mode above BARE (1).
      let ddtp = try #require(second.first { $0.kind == .read && $0.offset == 0x10 })
      #expect(ddtp.value & 0xf > 1)
    case .armSMMUv3:
      // arm_smmu_device_disable() reads CR0: SMMUEN still set ("SMMU currently enabled! Resetting...").
      let cr0 = try #require(second.first { $0.kind == .read && $0.offset == 0x20 })
      #expect(cr0.value & 1 == 1)
    case .intelIOMMU:
      // VT-d reads carry no value: the console shows the copy instead.
      let console = try capture(device, .kdump, "console.log")
      #expect(console.contains("DMAR: Translation already enabled - trying to copy translation structures"))
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
