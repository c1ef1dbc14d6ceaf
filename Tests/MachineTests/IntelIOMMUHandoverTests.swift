import Machine
import Testing

/// Intel VT-d across kexec and kdump, as the kernel list describes it (kernel-facts §3.6).
@Suite("VT-d handover")
struct IntelIOMMUHandoverTests {
  func run(_ scenario: HandoverScenario, _ variant: String = "kernel", _ clients: String = "nic")
    throws -> HandoverOutcome
  {
    try runHandover(
      adapter: IntelIOMMUAdapter(), scenario: scenario, variant: variant,
      clients: ClientSpec.parse(clients))
  }

  @Test(
    "kdump, kernel variant: the crash kernel copies the old tables and defers attach, so the unquiesced NIC keeps translating into its own buffers until its driver takes over; nothing is corrupted"
  )
  func kdumpKeepsWorking() throws {
    let o = try run(.kdump, "kernel", "nic,storage,accelerator")
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.unbackedTransactions == 0 && o.row.blockedTransactions == 0)
    for stage in o.stages {
      #expect(stage.dma.delivered == stage.dma.transactions, "\(stage.stage.rawValue)")
    }
    #expect(o.row.devicesRecovered == 3)
    #expect(o.timeline.contains { $0.text == "DMAR: Copied translation tables from previous kernel for dmar0" })
  }

  @Test(
    "kdump, reset-on-kdump variant: the crash kernel turns translation off first, and the NIC's IOVAs land in the dump")
  func kdumpResetCorrupts() throws {
    let o = try run(.kdump, "reset-on-kdump")
    #expect(o.row.corruptedDumpBytes > 0)
  }

  @Test(
    "kexec: pci_device_shutdown() stops the unquiesced PCI clients before intel_iommu_shutdown() turns translation off")
  func kexecClean() throws {
    let o = try run(.kexec, "kernel", "nic,storage,accelerator")
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.orderingViolations == 0)
    #expect(o.row.devicesRecovered == 3)
  }

  @Test("a quiesced device is safe across kexec under every VT-d policy")
  func quiescedSafe() throws {
    for variant in IntelIOMMUAdapter().variants {
      let o = try run(.kexec, variant, "nic:q,storage:q,accelerator:q")
      #expect(o.dma.corruptedBytes == 0, "\(variant)")
      #expect(o.row.devicesRecovered == 3, "\(variant)")
    }
  }
}
