import IOMMUModelTesting
import Testing

@Suite("DMA routing through the device directory, and kexec/kdump handover per policy")
struct TranslationAndHandoverTests {
  @Test("after probe the host bridge is identity-mapped and an unknown device faults with cause 258")
  func routeAfterProbe() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    #expect(bed.hardware.route(streamID: 0, address: 0x8123_4000, isWrite: true) == .translated(physical: 0x8123_4000))
    // Device 3 shares the host bridge's leaf page, whose other contexts are zero (TC.V=0).
    let route = bed.hardware.route(streamID: 3, address: 0x9000, isWrite: false)
    #expect(route == .blocked(reason: "cause 258: device context not valid (TC.V=0)"))
    let fault = try #require(bed.hardware.faults.last)
    #expect(fault.cause == 258 && fault.deviceID == 3 && fault.queued)
    // The record landed in the fault queue the driver allocated.
    let fq = try #require(bed.iommu).fltq.phys
    #expect(try bed.memory.read64(fq) == 258 | (2 << 34) | (3 << 40))
    // Device 0x42 needs a directory page nobody allocated: the non-leaf entry is invalid.
    #expect(
      bed.hardware.route(streamID: 0x42, address: 0, isWrite: true)
        == .blocked(reason: "cause 258: non-leaf DDT entry not valid"))
    #expect(try bed.memory.read64(fq + 32) == 258 | (3 << 34) | (0x42 << 40))
  }

  @Test("a device ID too wide for the directory depth is disallowed (cause 260)")
  func deviceIDTooWide() {
    var config = RISCVIOMMUConfiguration.qemuPCI
    config.supportedModes = [.off, .bare, .oneLevel]
    let bed = RISCVIOMMUTestbed(configuration: config)
    bed.boot()
    #expect(
      bed.hardware.route(streamID: 64, address: 0, isWrite: false)
        == .blocked(reason: "cause 260: device ID too wide for 1LVL"))
  }

  @Test("a first-stage Sv39 table translates, is cached until IOTINVAL.VMA, and faults on a missing page")
  func sv39() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    let iommu = try #require(bed.iommu)
    let m = bed.memory
    // Three table pages and a device context for device 0 with FSC = Sv39.
    let root: UInt64 = 0x8800_0000
    let l1: UInt64 = 0x8800_1000
    let l0: UInt64 = 0x8800_2000
    let iova: UInt64 = 0x4020_3000
    try m.write64((l1 >> 12) << 10 | 1, at: root + ((iova >> 30) & 0x1ff) * 8)
    try m.write64((l0 >> 12) << 10 | 1, at: l1 + ((iova >> 21) & 0x1ff) * 8)
    try m.write64((0x8a00_0000 >> 12) << 10 | 0xc7, at: l0 + ((iova >> 12) & 0x1ff) * 8)  // V R W A D
    #expect(bed.hardware.route(streamID: 0, address: iova, isWrite: false) == .translated(physical: iova))
    let dc = try #require(iommu.getDC(0))
    try m.write64(8 << 60 | (root >> 12), at: dc + 24)
    // The cached identity context still applies until IODIR.INVAL_DDT.
    #expect(bed.hardware.route(streamID: 0, address: iova + 0x10, isWrite: false) == .translated(physical: iova + 0x10))
    try iommu.invalidateAll()
    #expect(bed.hardware.route(streamID: 0, address: iova + 0x10, isWrite: true) == .translated(physical: 0x8a00_0010))
    // Unmapping the leaf changes nothing until IOTINVAL.VMA.
    try m.write64(0, at: l0 + ((iova >> 12) & 0x1ff) * 8)
    #expect(bed.hardware.route(streamID: 0, address: iova, isWrite: false) == .translated(physical: 0x8a00_0000))
    try iommu.invalidateAll()
    #expect(
      bed.hardware.route(streamID: 0, address: iova, isWrite: false)
        == .blocked(reason: "cause 13: first-stage page fault"))
  }

  @Test("Linux 7.2: a normal kexec hands over in BARE and the next kernel probes")
  func kernelKexec() {
    let old = RISCVIOMMUTestbed()
    old.boot()
    old.shutdown()
    #expect(old.hardware.ddtMode == .bare)
    #expect(old.hardware.route(streamID: 0x42, address: 0x1000, isWrite: true) == .bypassed(physical: 0x1000))
    let next = old.nextKernel(kdump: false)
    next.boot()
    #expect(next.probeResult == nil)
  }

  @Test("Linux 7.2: after a crash the kdump kernel disables to BARE and probes; a plain kernel fails")
  func kernelCrash() {
    let old = RISCVIOMMUTestbed()
    old.boot()
    let crash = old.nextKernel(kdump: true)
    crash.boot()
    #expect(crash.probeResult == nil)
    #expect(Array(crash.trace.lines[3...6]) == disableToBare)
    let old2 = RISCVIOMMUTestbed()
    old2.boot()
    let plain = old2.nextKernel(kdump: false)
    plain.boot()
    #expect(plain.probeResult == .EBUSY)
    #expect(plain.log.contains("iommu_pci 0000:00:01.0: error -EBUSY: unexpected device state"))
  }

  @Test("blocking-handover: shutdown leaves DDTP OFF, DMA is blocked, and the kdump kernel accepts it")
  func blockingHandover() {
    let old = RISCVIOMMUTestbed(policy: .blockingHandover)
    old.boot()
    old.trace.removeAll()
    old.shutdown()
    #expect(
      old.trace.lines == [
        "W64 0x0010 0x0000000000000000", "W32 0x0048 0x00000000", "W32 0x004c 0x00000000", "W32 0x0050 0x00000000",
      ])
    #expect(
      old.hardware.route(streamID: 0, address: 0x1000, isWrite: true)
        == .blocked(reason: "cause 256: all inbound transactions disallowed (DDTP OFF)"))
    let kdump = old.nextKernel(kdump: true)
    kdump.boot()
    #expect(kdump.probeResult == nil)
    // Without the blocking shutdown (a crash), the same kdump kernel refuses the IOMMU.
    let crashed = RISCVIOMMUTestbed(policy: .blockingHandover)
    crashed.boot()
    let after = crashed.nextKernel(kdump: true)
    after.boot()
    #expect(after.probeResult == .EBUSY)
  }

  @Test("refuse: even a kdump kernel fails on a translating IOMMU")
  func refuse() {
    let old = RISCVIOMMUTestbed(policy: .refuse)
    old.boot()
    let kdump = old.nextKernel(kdump: true)
    kdump.boot()
    #expect(kdump.probeResult == .EBUSY)
  }

  @Test("the platform variant binds riscv,iommu with wired interrupts and sets FCTL.WSI")
  func platform() {
    let bed = RISCVIOMMUTestbed(platform: true)
    bed.boot()
    #expect(bed.probeResult == nil)
    #expect(bed.log.first == "riscv,iommu 3000000.iommu: using wire-signaled interrupts")
    #expect(
      Array(bed.trace.lines.prefix(4)) == [
        "R64 0x0000 0x00000078d2cf0f10", "R32 0x0008 0x00000000", "W32 0x0008 0x00000002", ddtpRead(0),
      ])
  }

  @Test("the platform variant without IRQs, or MSI-only without an MSI domain, is refused")
  func platformRefusals() {
    let noIRQ = RISCVIOMMUTestbed(platform: true, irqCount: 0)
    noIRQ.boot()
    #expect(noIRQ.probeResult == .ENODEV)
    #expect(noIRQ.log.last == "riscv,iommu 3000000.iommu: error -ENODEV: no IRQ resources provided")
    var msiOnly = RISCVIOMMUConfiguration.platformWSI
    msiOnly.interruptGeneration = .msi
    let msi = RISCVIOMMUTestbed(configuration: msiOnly, platform: true)
    msi.boot()
    #expect(msi.probeResult == .ENODEV)
    #expect(
      msi.log == [
        "riscv,iommu 3000000.iommu: failed to find an MSI domain",
        "riscv,iommu 3000000.iommu: error -ENODEV: unable to use wire-signaled interrupts",
      ])
  }
}

@Suite("Binding through the driver core: clients behind the IOMMU")
struct ClientBindingTests {
  @Test("a client behind the IOMMU defers until it binds, is attached, and shuts down before it")
  func clientDefersAndShutsDownFirst() {
    let bed = RISCVIOMMUTestbed()
    let nic = Device(
      name: "0000:00:02.0", bus: .pci,
      identity: .pci(PCIIdentity(vendor: 0x8086, device: 0x100e, classCode: 0x02_0000)),
      iommu: bed.device, streamIDs: [0x10])
    let client = ScriptedDriver(name: "e1000", bus: .pci, matchTable: [.pci(vendor: 0x8086, device: 0x100e)])
    bed.core.register(client)
    bed.core.register(nic)
    #expect(nic.state == .deferred)
    bed.boot()
    #expect(nic.state == .bound)
    #expect(nic.isBehindActiveIOMMU)
    #expect(bed.iommu?.attached.map(\.device.name) == ["0000:00:02.0", "0000:00:00.0"])  // device list order
    #expect(
      bed.hardware.route(streamID: 0x10, address: 0x8000_1000, isWrite: true) == .translated(physical: 0x8000_1000))
    bed.shutdown()
    #expect(bed.core.shutdownOrder == ["0000:00:02.0", "0000:00:01.0"])
    #expect(bed.core.violations.isEmpty)
  }
}
