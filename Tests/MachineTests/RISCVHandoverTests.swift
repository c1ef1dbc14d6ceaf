import Machine
import Testing

/// The RISC-V IOMMU across kexec and kdump, as the kernel list describes it (kernel-facts §4.6).
@Suite("RISC-V IOMMU handover")
struct RISCVHandoverTests {
  func run(_ scenario: HandoverScenario, _ variant: String = "kernel", _ clients: String = "nic")
    throws -> HandoverOutcome
  {
    try runHandover(
      adapter: RISCVIOMMUAdapter(), scenario: scenario, variant: variant,
      clients: ClientSpec.parse(clients))
  }

  @Test(
    "kdump, kernel variant: init_check disables to BARE, so the unquiesced NIC's DMA passes through a bypass window into the dump"
  )
  func kdumpBypassWindow() throws {
    let o = try run(.kdump)
    let probe = try #require(o.stages.first { $0.stage == .nextKernelIOMMUProbe }?.dma)
    #expect(probe.bypassed > 0)
    #expect(o.row.corruptedDumpBytes > 0)
    #expect(o.row.initResult == "0")
    // Once the crash kernel's NIC driver probes, it works again through the new directory.
    #expect(o.row.devicesRecovered == 1)
  }

  @Test(
    "kdump, blocking-handover variant: nothing blocked the IOMMU before the crash, so the crash kernel refuses it with -EBUSY"
  )
  func kdumpBlockingHandoverRefuses() throws {
    let o = try run(.kdump, "blocking-handover")
    #expect(o.row.initResult == "-EBUSY")
  }

  @Test(
    "kexec, blocking-handover variant: shutdown leaves DDTP OFF, pci_device_shutdown() clears Bus Master Enable of the unquiesced clients, and nothing is corrupted"
  )
  func kexecBlocking() throws {
    let o = try run(.kexec, "blocking-handover", "nic,storage,accelerator")
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.initResult == "0")
    #expect(o.row.devicesRecovered == 3)
  }

  @Test("a quiesced device is safe across kexec under every RISC-V policy")
  func quiescedSafe() throws {
    for variant in RISCVIOMMUAdapter().variants {
      let o = try run(.kexec, variant, "nic:q,storage:q,accelerator:q")
      #expect(o.dma.corruptedBytes == 0, "\(variant)")
      #expect(o.row.devicesRecovered == 3, "\(variant)")
    }
  }
}
