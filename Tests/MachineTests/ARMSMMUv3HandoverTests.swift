import Machine
import Testing

/// SMMUv3 across kexec and kdump, as the kernel list describes it (kernel-facts §2.7).
@Suite("SMMUv3 handover")
struct ARMSMMUv3HandoverTests {
  func run(_ scenario: HandoverScenario, _ variant: String = "kernel", _ clients: String = "nic")
    throws -> HandoverOutcome
  {
    try runHandover(
      adapter: ARMSMMUv3Adapter(), scenario: scenario, variant: variant,
      clients: ClientSpec.parse(clients))
  }

  @Test(
    "kdump, kernel variant: the crash kernel finds SMMUEN set, aborts through GBPA and all-abort STEs: the unquiesced NIC is blocked, nothing is corrupted, and its driver brings it back"
  )
  func kdumpAborts() throws {
    let o = try run(.kdump)
    #expect(o.dma.corruptedBytes == 0)
    let probe = try #require(o.stages.first { $0.stage == .nextKernelIOMMUProbe }?.dma)
    #expect(probe.blocked > 0 && probe.corruptedBytes == 0)
    #expect(o.row.devicesRecovered == 1)
    #expect(o.timeline.contains { $0.text.hasSuffix("SMMU currently enabled! Resetting...") })
  }

  @Test("a quiesced device is safe across kexec under every SMMUv3 policy")
  func quiescedSafe() throws {
    for variant in ARMSMMUv3Adapter().variants {
      let o = try run(.kexec, variant, "nic:q,storage:q,accelerator:q")
      #expect(o.dma.corruptedBytes == 0, "\(variant)")
      #expect(o.row.devicesRecovered == 3, "\(variant)")
    }
  }
}
