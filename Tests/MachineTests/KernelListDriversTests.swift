import Machine
import Testing

/// The kernel-list proposal on VT-d and RISC-V, made by the drivers' own `kernel-list` variant:
/// the old kernel leaves translation on, the next kernel's probe switches to blocking tables.
@Suite("Kernel-list policy on VT-d and RISC-V: the driver's probe makes the atomic switch")
struct KernelListDriversTests {
  static let adapters: [@Sendable () -> any HandoverIOMMU] = [{ IntelIOMMUAdapter() }, { RISCVIOMMUAdapter() }]

  func run(_ adapter: any HandoverIOMMU, _ scenario: HandoverScenario, _ variant: String)
    throws -> (Machine, HandoverOutcome)
  {
    let m = Machine(adapter: adapter, variant: variant, clients: try ClientSpec.parse("nic:u,storage:q"))
    return (m, try m.runHandover(scenario))
  }

  @Test("both drivers offer kernel-list through the policy, not as a listed variant")
  func offered() {
    for make in Self.adapters {
      let adapter = make()
      #expect(!adapter.variants.contains(Machine.kernelListPolicy), "\(adapter.name)")
      #expect(adapter.kernelList?.shutdownVariant == "kernel-list", "\(adapter.name)")
      #expect(adapter.kernelList?.bootVariant == "kernel-list", "\(adapter.name)")
      #expect(adapter.kernelList?.switchToBlocking == nil, "\(adapter.name)")
    }
  }

  @Test(
    "kdump: nothing corrupted, no bypass; after the switch the unquiesced NIC is blocked with faults recorded; nothing was quiesced, so both devices stay lost",
    arguments: 0..<2)
  func kdump(index: Int) throws {
    let (m, o) = try run(Self.adapters[index](), .kdump, Machine.kernelListPolicy)
    let name = o.row.iommu
    #expect(o.row.corruptedNewKernelBytes == 0 && o.row.corruptedCrashKernelBytes == 0, "\(name)")
    #expect(o.row.corruptedDumpBytes == 0 && o.row.unbackedTransactions == 0, "\(name)")
    #expect(o.dma.bypassed == 0, "\(name)")
    #expect(o.row.blockedTransactions > 0 && o.row.faults > 0, "\(name)")
    let nic = try #require(o.clients.first { $0.name == "nic0" })
    #expect(!nic.quiesced && nic.dma.blocked > 0 && !nic.works, "\(name)")
    // From the switch on, nothing reaches memory: the crash kernel's running stage is all blocked.
    let running = try #require(o.stages.first { $0.stage == .nextKernelRunning }?.dma)
    #expect(running.blocked == running.transactions && running.transactions > 0, "\(name)")
    // __crash_kexec() runs no shutdown callback: the storage controller was not quiesced either.
    #expect(o.row.devicesRecovered == 0 && o.row.devicesLost == 2, "\(name)")
    #expect(o.row.initResult == "0" && o.row.orderingViolations == 0, "\(name)")
    let log = m.kernels[1].kernel.log.lines
    #expect(log.filter { $0.hasSuffix("error -EBUSY: not quiesced by the previous kernel, left blocked") }.count == 2)
  }

  @Test(
    "kexec: nothing corrupted; the quiesced controller works again, the unquiesced NIC is refused and stays lost (Bus Master Enable, cleared at shutdown, keeps it silent)",
    arguments: 0..<2)
  func kexec(index: Int) throws {
    let (m, o) = try run(Self.adapters[index](), .kexec, Machine.kernelListPolicy)
    let name = o.row.iommu
    #expect(o.dma.corruptedBytes == 0 && o.row.unbackedTransactions == 0 && o.dma.bypassed == 0, "\(name)")
    #expect(o.clients.map(\.works) == [false, true], "\(name)")
    #expect(o.row.initResult == "0" && o.row.orderingViolations == 0, "\(name)")
    // pci_device_shutdown() cleared BME of the NIC: it issues nothing after the handover, so
    // nothing needs blocking.
    #expect(o.row.blockedTransactions == 0, "\(name)")
    let log = m.kernels[1].kernel.log.lines
    #expect(log.contains { $0.hasSuffix("error -EBUSY: not quiesced by the previous kernel, left blocked") })
  }

  @Test(
    "VT-d kdump, compared with `kernel`: the copied tables keep both devices working, kernel-list blocks them; neither corrupts"
  )
  func vtdComparedWithKernel() throws {
    let (_, kernel) = try run(IntelIOMMUAdapter(), .kdump, "kernel")
    let (m, list) = try run(IntelIOMMUAdapter(), .kdump, Machine.kernelListPolicy)
    #expect(kernel.dma.corruptedBytes == 0 && list.dma.corruptedBytes == 0)
    #expect(kernel.row.blockedTransactions == 0 && kernel.row.devicesRecovered == 2)
    #expect(list.row.blockedTransactions > 0 && list.row.devicesRecovered == 0)
    let log = m.kernels[1].kernel.log.lines
    #expect(log.contains("DMAR: Translation already enabled - blocking DMA with an empty root table for dmar0"))
    #expect(!log.contains("DMAR: Translation already enabled - trying to copy translation structures"))
  }

  @Test(
    "RISC-V kdump, compared with `kernel`: `kernel` passes a BARE bypass window into the dump, kernel-list blocks from DDTP := OFF on"
  )
  func riscvComparedWithKernel() throws {
    let (_, kernel) = try run(RISCVIOMMUAdapter(), .kdump, "kernel")
    let (m, list) = try run(RISCVIOMMUAdapter(), .kdump, Machine.kernelListPolicy)
    let kernelProbe = try #require(kernel.stages.first { $0.stage == .nextKernelIOMMUProbe }?.dma)
    let listProbe = try #require(list.stages.first { $0.stage == .nextKernelIOMMUProbe }?.dma)
    #expect(kernelProbe.bypassed > 0 && kernel.row.corruptedDumpBytes > 0)
    #expect(listProbe.bypassed == 0 && listProbe.blocked == listProbe.transactions)
    #expect(list.row.corruptedDumpBytes == 0)
    #expect(
      m.kernels[1].kernel.log.lines.contains(
        "iommu_pci 0000:00:01.0: translation left on by the previous kernel, all DMA blocked (DDTP OFF)"))
  }

  @Test(
    "kexec, compared with `kernel`: `kernel` lets the unquiesced NIC's new driver take it back, kernel-list refuses it",
    arguments: 0..<2)
  func kexecComparedWithKernel(index: Int) throws {
    let (_, kernel) = try run(Self.adapters[index](), .kexec, "kernel")
    let (_, list) = try run(Self.adapters[index](), .kexec, Machine.kernelListPolicy)
    #expect(kernel.row.devicesRecovered == 2)
    #expect(list.row.devicesRecovered == 1)
  }

  @Test("the matrix adds kernel-list rows for vtd and riscv, none of them corrupting memory")
  func matrixRows() {
    let matrix = HandoverMatrix(adapters: Self.adapters.map { make in { make() } }, kinds: [.nic])
    let (rows, errors) = matrix.run()
    #expect(errors.isEmpty)
    let list = rows.filter { $0.variant == Machine.kernelListPolicy }
    #expect(list.count == 2 * 2 * 2)
    #expect(list.allSatisfy { $0.corruptedNewKernelBytes + $0.corruptedCrashKernelBytes + $0.corruptedDumpBytes == 0 })
    #expect(list.allSatisfy { $0.initResult == "0" })
  }
}
