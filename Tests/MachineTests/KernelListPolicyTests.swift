import Machine
import MachineTesting
import Testing

/// The proposal from the kernel list, as a machine policy.
@Suite("Kernel-list policy: keep the configuration, switch atomically to abort, attach only quiesced devices")
struct KernelListPolicyTests {
  @Test(
    "across kexec, the unquiesced NIC stays blocked and lost while the quiesced controller comes back; nothing is corrupted"
  )
  func kexec() throws {
    let m = Machine(
      adapter: TinyIOMMUAdapter(), variant: Machine.kernelListPolicy,
      clients: try ClientSpec.parse("nic:u,storage:q"))
    let o = try m.runHandover(.kexec)
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.unbackedTransactions == 0)
    #expect(o.row.blockedTransactions > 0)
    #expect(o.clients.map(\.works) == [false, true])
    #expect(o.row.initResult == "0")
    #expect(
      m.kernels[1].kernel.log.lines.contains(
        "nic 10100000.nic0: error -EBUSY: not quiesced by the previous kernel, left blocked"))
  }

  @Test("in kdump nothing was quiesced: every device stays blocked, and the dump stays intact")
  func kdump() throws {
    let o = try runHandover(
      adapter: TinyIOMMUAdapter(), scenario: .kdump, variant: Machine.kernelListPolicy)
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.devicesLost == 3)
    #expect(o.stages.allSatisfy { $0.stage == .oldKernelRunning || $0.stage == .oldKernelBoot || $0.dma.bypassed == 0 })
  }

  @Test("an adapter without the policy refuses it by name")
  func unknownVariant() {
    #expect(throws: HandoverError.self) {
      try runHandover(adapter: TinyIOMMUAdapter(), scenario: .kexec, variant: "nonsense")
    }
  }
}
