import Firmware
import IOMMUModelTesting
import IntelIOMMU
import SimulatedHardware
import Testing

@Suite("Real kernel: Linux 7.2 on QEMU 10 q35 intel-iommu,intremap=on")
struct RealKernelTraceTests {
  /// The q35 DMAR table fixture, through the Firmware parser.
  func q35DMAR() throws -> DMARDescription {
    let url = RepositoryPaths.fixtures.appendingPathComponent("intel-iommu-q35/DMAR.dsl")
    let bytes = try ACPITableSource.bytes(fromDisassembly: try RepositoryPaths.text(url), source: "DMAR.dsl")
    let table = try DMARTable(bytes: bytes)
    #expect(table.findings.isEmpty)
    return DMARDescription(table)
  }

  @Test("the q35 DMAR fixture parses to the machine's own description of its firmware")
  func dmarFixture() throws {
    #expect(try q35DMAR() == .qemuQ35(devices: IntelVTdMachine.q35Devices))
  }

  @Test("model boot + poweroff reproduces intel-iommu.poweroff.trace line for line")
  func poweroffTrace() throws {
    let machine = IntelVTdMachine(configuration: .qemuIntremap, firmware: try q35DMAR())
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
    #expect(
      boot.log == [
        "DMAR: IOMMU enabled", "DMAR: Host address width 48", "DMAR: DRHD base: 0x000000fed90000 flags: 0x0",
        "DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c222f0606 ecap f00f4a",
        "DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0", "DMAR-IR: Enabled IRQ remapping in xapic mode",
        "DMAR: No RMRR found", "DMAR: No ATSR found", "DMAR: No SATC found", "DMAR: dmar0: Using Queued invalidation",
      ] + q35Groups + ["DMAR: Intel(R) Virtualization Technology for Directed I/O"])
    // The sysfs view the initramfs printed.
    #expect(
      boot.driver.sysfsAttributes() == [
        "address": "fed90000", "cap": "d2008c222f0606", "ecap": "f00f4a", "domains_supported": "65536",
        "domains_used": "4",
      ])
  }
}
