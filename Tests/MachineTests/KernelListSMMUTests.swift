import Machine
import Testing

/// The kernel-list proposal on the two Arm SMMUs, through their drivers' `kernel-list`
/// variants: an unquiesced NIC and a quiesced storage controller.
@Suite("Kernel-list policy on SMMUv3 and SMMUv2")
struct KernelListSMMUTests {
  func run(_ adapter: any HandoverIOMMU, _ scenario: HandoverScenario, _ variant: String = Machine.kernelListPolicy)
    throws -> HandoverOutcome
  {
    try runHandover(
      adapter: adapter, scenario: scenario, variant: variant, clients: ClientSpec.parse("nic,storage:q"))
  }

  func stage(_ o: HandoverOutcome, _ s: HandoverStage) -> DMAStats {
    o.stages.first { $0.stage == s }?.dma ?? DMAStats()
  }

  /// Nothing written outside the devices' own buffers, nothing bypassed after the old kernel.
  func expectClean(_ o: HandoverOutcome) {
    #expect(o.row.corruptedNewKernelBytes == 0)
    #expect(o.row.corruptedCrashKernelBytes == 0)
    #expect(o.row.corruptedDumpBytes == 0)
    #expect(o.row.unbackedTransactions == 0)
    #expect(o.row.initResult == "0")
    for s in [HandoverStage.crash, .deviceShutdown, .kernelLoad, .nextKernelIOMMUProbe, .nextKernelClientProbe] {
      #expect(stage(o, s).bypassed == 0, "\(s)")
    }
  }

  func refused(_ o: HandoverOutcome) -> Bool {
    o.timeline.contains { $0.text.hasSuffix("error -EBUSY: not quiesced by the previous kernel, left blocked") }
  }

  @Test("both adapters offer the policy, and list it apart from their driver variants")
  func offered() {
    for adapter in [ARMSMMUv3Adapter() as any HandoverIOMMU, ARMSMMUAdapter()] {
      #expect(adapter.kernelList?.shutdownVariant == "kernel-list")
      #expect(adapter.kernelList?.bootVariant == "kernel-list")
      #expect(adapter.kernelList?.switchToBlocking == nil)
      #expect(!adapter.variants.contains(Machine.kernelListPolicy))
    }
  }

  @Test(
    "SMMUv3 kdump: the crash kernel's driver aborts every stream from its CR0 write on; nothing is corrupted and the unquiesced NIC is blocked"
  )
  func smmuv3Kdump() throws {
    let o = try run(ARMSMMUv3Adapter(), .kdump)
    expectClean(o)
    #expect(o.clients[0].dma.blocked > 0)
    #expect(o.row.orderingViolations == 0)
    #expect(
      o.timeline.contains {
        $0.text.hasSuffix("kernel-list: SMMU left enabled by the previous kernel, aborting every stream")
      })
    // No shutdown callback runs in kdump: neither client was quiesced, both stay blocked.
    #expect(o.clients.map(\.works) == [false, false])
    #expect(refused(o))
    // Linux 7.2 aborts the same way but lets the NIC's driver take it back.
    let kernel = try run(ARMSMMUv3Adapter(), .kdump, "kernel")
    #expect(kernel.dma.corruptedBytes == 0)
    #expect(kernel.clients.map(\.works) == [true, true])
  }

  @Test(
    "SMMUv3 kexec: SMMUEN stays set with the masters blocked; the quiesced controller comes back, the NIC (stopped by pci_device_shutdown()) is refused"
  )
  func smmuv3Kexec() throws {
    let o = try run(ARMSMMUv3Adapter(), .kexec)
    expectClean(o)
    #expect(o.row.orderingViolations == 0)
    #expect(o.clients.map(\.works) == [false, true])
    #expect(o.row.initResult == "0")
    #expect(refused(o))
    #expect(
      o.timeline.contains {
        $0.text.hasSuffix("kernel-list: blocking every master, leaving translation on for the next kernel")
      })
    // Bus Master Enable was cleared at shutdown: the NIC issues nothing to block.
    #expect(o.clients[0].dma.blocked == 0)
    #expect(stage(o, .kernelLoad).transactions == 0)
  }

  @Test(
    "SMMUv2 kexec: every stream faults from shutdown on, the next probe never sets CLIENTPD; Linux 7.2's bypass corrupts the new kernel instead"
  )
  func smmuv2Kexec() throws {
    let o = try run(ARMSMMUAdapter(), .kexec)
    expectClean(o)
    #expect(o.clients[0].dma.blocked > 0)
    #expect(o.row.faults > 0)
    #expect(o.clients.map(\.works) == [false, true])
    #expect(refused(o))
    // A platform master without ->shutdown() is still DMA-active when the SMMU shuts down.
    #expect(o.row.orderingViolations == 1)
    #expect(stage(o, .kernelLoad).blocked == stage(o, .kernelLoad).transactions)
    let kernel = try run(ARMSMMUAdapter(), .kexec, "kernel")
    #expect(kernel.row.corruptedNewKernelBytes > 0)
  }

  @Test(
    "SMMUv2 kdump: the crash kernel faults every stream before its RMR step, so the dump stays intact where Linux 7.2's bypass window writes into it"
  )
  func smmuv2Kdump() throws {
    let o = try run(ARMSMMUAdapter(), .kdump)
    expectClean(o)
    #expect(o.clients[0].dma.blocked > 0)
    #expect(o.row.orderingViolations == 0)
    #expect(o.clients.map(\.works) == [false, false])
    #expect(
      o.timeline.contains {
        $0.text.hasSuffix("kernel-list: translation left on by the previous kernel, faulting every stream")
      })
    let kernel = try run(ARMSMMUAdapter(), .kdump, "kernel")
    #expect(kernel.row.corruptedDumpBytes > 0)
    #expect(stage(kernel, .nextKernelIOMMUProbe).bypassed > 0)
  }

  @Test("a device whose shutdown callback quiesced it comes back under the policy on both SMMUs")
  func quiescedSafe() throws {
    for adapter in [ARMSMMUv3Adapter() as any HandoverIOMMU, ARMSMMUAdapter()] {
      let o = try runHandover(
        adapter: adapter, scenario: .kexec, variant: Machine.kernelListPolicy,
        clients: ClientSpec.parse("nic:q,storage:q,accelerator:q"))
      #expect(o.dma.corruptedBytes == 0, "\(adapter.name)")
      #expect(o.row.devicesRecovered == 3 && o.row.orderingViolations == 0, "\(adapter.name)")
    }
  }
}
