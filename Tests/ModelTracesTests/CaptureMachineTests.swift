import Foundation
import IOMMUModelTesting
import OracleTraces
import Testing

@testable import ModelTraces

/// The properties of the capture machine the providers reproduce explicitly.
@Suite("what the providers take from the capture machine")
struct CaptureMachineTests {
  @Test("QEMU's SMMUv3 trace shows page 1 at page-0 offsets; other lines are kept")
  func smmuPageOneFolded() {
    #expect(
      ARMSMMUv3Scenarios.qemuView(["W32 0x100a8 0x00000000", "R32 0x0020 0x00000001", "CMD CMD_SYNC"]) == [
        "W32 0x00a8 0x00000000", "R32 0x0020 0x00000001", "CMD CMD_SYNC",
      ])
  }

  @Test("the VT-d interrupt workload is the capture's: each kernel's IRTE flushes (iec granularity 1), in order")
  func vtdWorkloadIsTheCaptures() throws {
    let url = RepositoryPaths.fixtures.appendingPathComponent("qemu-captures/intel-iommu/kdump.trace")
    let trace = try QEMUTraceParser(device: .intelIOMMU).parse(RepositoryPaths.text(url))
    var boot = 0
    var indices: [[Int]] = [[], []]
    for event in trace.events {
      switch event {
      case .bootStart(let b): boot = b
      case .annotation(let text) where text.hasPrefix("vtd_inv_desc_iec granularity 0x1 index 0x"):
        let index = text.dropFirst("vtd_inv_desc_iec granularity 0x1 index 0x".count).prefix { $0 != " " }
        indices[boot - 1].append(try #require(Int(index, radix: 16)))
      default: break
      }
    }
    let first = InterruptWorkload.firstKernel
    let crash = InterruptWorkload.crashKernel
    #expect(indices == [first.early + first.late, crash.early + crash.late])
  }

  @Test("without the CMA area the kexec'd SMMUv3 kernel's queues move, and the comparison says so")
  func smmuWithoutCMADiverges() throws {
    let url = RepositoryPaths.fixtures.appendingPathComponent("qemu-captures/arm-smmu-v3/kexec.trace")
    let parser = QEMUTraceParser(device: .armSMMUv3)
    let real = try parser.parse(RepositoryPaths.text(url))
    let first = ARMSMMUv3Board()
    first.probe()
    first.kernel.context.kexecInProgress = true
    first.shutdown()
    let next = ARMSMMUv3Board(after: first)
    next.probe()
    next.shutdown()
    var out = ScenarioTrace()
    out.addBoot(ARMSMMUv3Scenarios.qemuView(first.recorder.lines), log: [])
    out.addBoot(ARMSMMUv3Scenarios.qemuView(next.recorder.lines), log: [])
    let c = TraceComparison(real: real, model: try parser.parse(out.text), device: .armSMMUv3)
    #expect(c.report.hasSuffix("match: 106/108"))
    #expect(c.report.contains("+ model #67 only      W64 0x0090 0x4000000000000010+{CMDQ_BASE.2}"))
  }
}
