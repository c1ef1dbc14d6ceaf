import Machine
import Testing

/// SMMUv1/v2 across kexec and kdump, as the kernel list describes it (kernel-facts §1.7).
@Suite("SMMUv2 handover")
struct ARMSMMUHandoverTests {
  func run(_ scenario: HandoverScenario, _ variant: String = "kernel", _ clients: String = "nic")
    throws -> HandoverOutcome
  {
    try runHandover(
      adapter: ARMSMMUAdapter(), scenario: scenario, variant: variant,
      clients: ClientSpec.parse(clients))
  }

  func stage(_ o: HandoverOutcome, _ s: HandoverStage) -> DMAStats {
    o.stages.first { $0.stage == s }?.dma ?? DMAStats()
  }

  @Test(
    "kernel shutdown (sCR0 = CLIENTPD) with an unquiesced master across kexec: its DMA bypasses into the new kernel's memory"
  )
  func kernelKexecCorrupts() throws {
    let o = try run(.kexec)
    #expect(o.row.corruptedNewKernelBytes > 0)
    #expect(stage(o, .deviceShutdown).bypassed > 0)
    #expect(stage(o, .kernelLoad).bypassed > 0)
    #expect(o.row.orderingViolations == 1)
  }

  @Test(
    "abort-on-shutdown: from shutdown until the next kernel probes, the master's DMA is blocked, not written anywhere")
  func abortBlocks() throws {
    let o = try run(.kexec, "abort-on-shutdown")
    for s in [HandoverStage.deviceShutdown, .kernelLoad] {
      #expect(stage(o, s).transactions > 0 && stage(o, s).blocked == stage(o, s).transactions)
      #expect(stage(o, s).corruptedBytes == 0)
    }
    #expect(o.row.blockedTransactions > 0)
  }

  @Test(
    "abort-on-shutdown still meets the next kernel's RMR step, which sets CLIENTPD before the reset: a short bypass window"
  )
  func abortMeetsProbeWindow() throws {
    let o = try run(.kexec, "abort-on-shutdown")
    let probe = stage(o, .nextKernelIOMMUProbe)
    #expect(probe.bypassed > 0)
    #expect(o.row.corruptedNewKernelBytes == probe.corruptedNewKernelBytes)
    // Far less than the kernel policy lets through.
    #expect(o.row.corruptedNewKernelBytes < (try run(.kexec)).row.corruptedNewKernelBytes)
  }

  @Test(
    "abort (abort-on-shutdown carried into the next kernel's RMR step): across kexec nothing is corrupted and the unquiesced master's DMA is blocked"
  )
  func abortKexecClean() throws {
    let o = try run(.kexec, "abort")
    #expect(o.row.corruptedNewKernelBytes == 0 && o.row.corruptedCrashKernelBytes == 0 && o.row.corruptedDumpBytes == 0)
    #expect(o.dma.bypassed == 0)
    #expect(o.row.blockedTransactions > 0)
    #expect(stage(o, .nextKernelIOMMUProbe).bypassed == 0)
    // The same run under abort-on-shutdown leaks through the probe's bypass window.
    #expect(try run(.kexec, "abort-on-shutdown").row.corruptedNewKernelBytes > 0)
  }

  @Test("abort in kdump: no bypass window in the crash kernel's probe, nothing written into the dump")
  func abortKdumpClean() throws {
    let o = try run(.kdump, "abort")
    #expect(o.row.corruptedDumpBytes == 0 && o.row.corruptedCrashKernelBytes == 0)
    #expect(stage(o, .nextKernelIOMMUProbe).bypassed == 0)
    #expect(o.row.initResult == "0")
  }

  @Test(
    "kdump: nothing shuts the SMMU down, the master translates until the crash kernel's probe opens the bypass window")
  func kdump() throws {
    let o = try run(.kdump)
    #expect(stage(o, .crash).translated == stage(o, .crash).transactions)
    #expect(stage(o, .kernelLoad).delivered == stage(o, .kernelLoad).transactions)
    #expect(stage(o, .nextKernelIOMMUProbe).bypassed > 0)
    #expect(o.row.corruptedDumpBytes > 0)
    #expect(o.row.initResult == "0")
  }

  @Test("a quiesced master is safe across kexec under both SMMUv2 policies")
  func quiescedSafe() throws {
    for variant in ARMSMMUAdapter().variants {
      let o = try run(.kexec, variant, "nic:q,storage:q,accelerator:q")
      #expect(o.dma.corruptedBytes == 0, "\(variant)")
      #expect(o.row.devicesRecovered == 3 && o.row.orderingViolations == 0, "\(variant)")
    }
  }
}
