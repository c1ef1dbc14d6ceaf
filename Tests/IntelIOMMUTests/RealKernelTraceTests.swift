import IOMMUModelTesting
import IntelIOMMU
import SimulatedHardware
import Testing

@Suite("Real kernel: Linux 7.2 on QEMU 10 q35 intel-iommu,intremap=on")
struct RealKernelTraceTests {
  @Test("model boot + poweroff reproduces intel-iommu.poweroff.trace line for line")
  func poweroffTrace() throws {
    let machine = IntelVTdMachine(configuration: .qemuIntremap)
    let boot = machine.kernel(commandLine: "console=ttyS0 intel_iommu=on panic=-1 loglevel=4 mode=poweroff")
    let outcome = boot.driver.run(try referenceSteps())
    #expect(outcome.fatal == nil)
    #expect(outcome.errors.isEmpty)
    let model = normalizeQEMUTrace(machine.unit.events)
    let reference = normalizeQEMUTrace(try referenceTrace())
    for (i, (m, r)) in zip(model, reference).enumerated() where m != r {
      Issue.record("line \(i + 1): model '\(m)' != reference '\(r)'")
      break
    }
    #expect(model.count == reference.count)
  }
}
