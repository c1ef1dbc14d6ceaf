import DeviceCore
import Kernel
import Machine
import MachineTesting
import Testing

/// The handover machine with the tiny test IOMMU: boot, DMA accounting, kexec and kdump.
@Suite("The handover machine with a tiny IOMMU")
struct MachineMechanicsTests {
  func machine(
    _ variant: String = "kernel", _ clients: String = "nic,storage,accelerator",
    bus: BusType = .platform, options: MachineOptions = MachineOptions()
  ) throws -> Machine {
    Machine(
      adapter: TinyIOMMUAdapter(clientBus: bus), variant: variant,
      clients: try ClientSpec.parse(clients), options: options)
  }

  @Test(
    "the old kernel boots: the IOMMU probes, clients attach, and all their DMA is translated into their own buffers")
  func oldKernelBoots() throws {
    let m = try machine()
    try m.bootOldKernel()
    m.runOldKernel()
    #expect(m.iommus[0].initResults == [nil])
    #expect(m.clients.allSatisfy { $0.device?.isBehindActiveIOMMU == true })
    let s = m.totalStats
    #expect(s.transactions > 0)
    #expect(s.translated == s.transactions && s.delivered == s.transactions)
    #expect(s.corruptedBytes == 0)
    #expect(m.kernel?.log.lines.contains { $0.hasPrefix("tiny-iommu 10000000.iommu: translation enabled") } == true)
  }

  @Test("kexec: device_shutdown() shuts the clients down first, the IOMMU last")
  func shutdownOrder() throws {
    let m = try machine("kernel", "nic:q,storage:q,accelerator:q")
    _ = try m.runHandover(.kexec)
    let order = m.kernels[0].core.shutdownOrder
    #expect(order.last == "10000000.iommu")
    #expect(order.count == 4)
    #expect(m.kernels[0].core.violations.isEmpty)
  }

  @Test("kexec, kernel variant, unquiesced NIC: bypass after the IOMMU's shutdown writes packets into the new kernel")
  func kexecBypassCorrupts() throws {
    let o = try machine("kernel", "nic").runHandover(.kexec)
    #expect(o.row.corruptedNewKernelBytes > 0)
    #expect(o.stages.first { $0.stage == .kernelLoad }?.dma.bypassed ?? 0 > 0)
    #expect(o.row.orderingViolations == 1)
    #expect(o.violations == ["IOMMU 10000000.iommu shut down while 10100000.nic0 behind it was still DMA-active"])
    // The next kernel's driver warns, disables and resets; the NIC's new driver brings it back.
    #expect(o.row.initResult == "0")
    #expect(o.row.devicesRecovered == 1 && o.row.devicesLost == 0)
  }

  @Test("kexec, abort variant, unquiesced NIC: its DMA is blocked and nothing is corrupted")
  func kexecAbortBlocks() throws {
    let o = try machine("abort", "nic").runHandover(.kexec)
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.blockedTransactions > 0)
    #expect(o.row.unbackedTransactions == 0)
  }

  @Test("kdump, kernel variant: nothing shuts down, and the crash kernel's probe opens a bypass window into the dump")
  func kdumpBypassWindow() throws {
    let m = try machine("kernel", "nic")
    let o = try m.runHandover(.kdump)
    #expect(m.kernels[0].core.shutdownOrder.isEmpty)
    #expect(o.row.orderingViolations == 0)
    let probe = o.stages.first { $0.stage == .nextKernelIOMMUProbe }?.dma
    #expect(probe?.bypassed ?? 0 > 0)
    #expect(o.row.corruptedDumpBytes > 0)
    #expect(o.row.corruptedNewKernelBytes == 0)
    #expect(
      m.kernels[1].kernel.log.lines.contains(
        "tiny-iommu 10000000.iommu: translation left on by the crashed kernel, disabling"))
  }

  @Test("kexec, leave variant: DMA translated through tables the next kernel overwrote lands nowhere it should")
  func overwrittenTables() throws {
    let o = try machine("leave", "nic").runHandover(.kexec)
    let load = o.stages.first { $0.stage == .kernelLoad }?.dma
    #expect(load?.transactions ?? 0 > 0)
    #expect(load?.delivered == 0)
  }

  @Test(
    "PCI clients: pci_device_shutdown() clears Bus Master Enable during kexec, which stops even an unquiesced device")
  func busMasterCleared() throws {
    let o = try machine("kernel", "nic,storage", bus: .pci).runHandover(.kexec)
    #expect(o.dma.corruptedBytes == 0)
    #expect(o.row.orderingViolations == 0)
    #expect(o.row.devicesRecovered == 2)
  }

  @Test("a device whose shutdown callback quiesces it is safe across kexec under every policy")
  func quiescedSafeEverywhere() throws {
    var policies = TinyIOMMUAdapter().variants
    policies.append(Machine.kernelListPolicy)
    for policy in policies {
      let o = try machine(policy, "nic:q,storage:q,accelerator:q").runHandover(.kexec)
      #expect(o.dma.corruptedBytes == 0, "\(policy)")
      #expect(o.row.unbackedTransactions == 0 && o.row.blockedTransactions == 0, "\(policy)")
      #expect(o.row.devicesRecovered == 3, "\(policy)")
      #expect(o.row.orderingViolations == 0, "\(policy)")
    }
  }

  @Test("ordering violation: with the IOMMU driver loaded after its clients, a client is shut down after its IOMMU")
  func orderingViolation() throws {
    var options = MachineOptions()
    options.iommuDriverLoadedLate = true
    let m = try machine("kernel", "nic:q", options: options)
    let o = try m.runHandover(.kexec)
    #expect(m.kernels[0].core.shutdownOrder == ["10000000.iommu", "10100000.nic0"])
    #expect(o.row.orderingViolations == 1)
    #expect(o.violations == ["IOMMU 10000000.iommu shut down while 10100000.nic0 behind it was still DMA-active"])
  }
}

@Suite("IOVA allocation")
struct IOVAAllocatorTests {
  @Test("top-down per DMA mask limit, page-rounded; each limit has its own top; -ENOSPC below zero")
  func topDownPerLimit() throws {
    var iovas = IOVAAllocator(aperture: 1 << 32)
    #expect(try iovas.allocate(size: 4096, dmaMask: ~0) == 0xffff_f000)
    #expect(try iovas.allocate(size: 1, dmaMask: ~0) == 0xffff_e000)
    #expect(try iovas.allocate(size: 0x2000, dmaMask: 0xffff) == 0xe000)
    #expect(try iovas.allocate(size: 4096, dmaMask: 0x1fff) == 0x1000)
    // A fourth limit, past the two kept inline.
    #expect(try iovas.allocate(size: 4096, dmaMask: 0xfff) == 0)
    #expect(throws: Errno.ENOSPC) { try iovas.allocate(size: 4096, dmaMask: 0xfff) }
    #expect(try iovas.allocate(size: 4096, dmaMask: 0x1fff) == 0)
    #expect(throws: Errno.ENOSPC) { try iovas.allocate(size: 0x2000, dmaMask: 0x1fff) }
    #expect(try iovas.allocate(size: 4096, dmaMask: 0xffff) == 0xd000)
    // A mask wider than the aperture is limited by it.
    #expect(try iovas.allocate(size: 4096, dmaMask: 1 << 40) == 0xffff_d000)
  }
}
