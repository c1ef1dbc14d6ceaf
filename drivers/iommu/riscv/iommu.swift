import DeviceCore
import Kernel
import MMIO
import Memory

// Mirrors drivers/iommu/riscv/iommu.c and iommu.h (Linux 7.2): the core shared by the PCI and
// platform glue. Queue handling is in iommu-queue.swift, the device directory in iommu-iodir.swift.

/// Timeouts in microseconds (`RISCV_IOMMU_*_TIMEOUT`).
public let RISCV_IOMMU_QCSR_TIMEOUT: UInt64 = 150_000
public let RISCV_IOMMU_QUEUE_TIMEOUT: UInt64 = 150_000
public let RISCV_IOMMU_DDTP_TIMEOUT: UInt64 = 10_000_000
public let RISCV_IOMMU_IOTINVAL_TIMEOUT: UInt64 = 90_000_000
/// Default queue lengths (`RISCV_IOMMU_DEF_CQ_COUNT`, `RISCV_IOMMU_DEF_FQ_COUNT`).
public let RISCV_IOMMU_DEF_CQ_COUNT: UInt32 = 8192
public let RISCV_IOMMU_DEF_FQ_COUNT: UInt32 = 4096

/// `struct riscv_iommu_device`: one IOMMU instance, the driver data of its bus device.
public final class RISCVIOMMUDevice {
  public let dev: Device
  /// `iommu->reg`.
  public let reg: IOMem
  public let policy: RISCVIOMMUPolicy
  // The state below is read on every command and attach and changed by plain stores, appends and
  // removals whose closures do not touch it, never while another access is in progress: no
  // dynamic exclusivity checks.
  @exclusivity(unchecked) public internal(set) var caps = RISCVIOMMUCapabilities(raw: 0)
  @exclusivity(unchecked) public internal(set) var fctl: UInt32 = 0
  /// `irqs_count` and `irqs[]` (Linux virq numbers; 0 means none).
  @exclusivity(unchecked) public internal(set) var irqsCount = 0
  @exclusivity(unchecked) public internal(set) var irqs: [UInt32] = Array(repeating: 0, count: RISCV_IOMMU_INTR_COUNT)
  @exclusivity(unchecked) public internal(set) var icvec: UInt64 = 0
  // (The machine's binding reads it from another module: an inlinable accessor, since other
  // modules do not see the attribute.)
  /// `ddt_mode`, `ddt_phys` (the root's physical address); the root is accessed through memory.
  public internal(set) var ddtMode: RISCVIOMMUDDTPMode {
    @inlinable get { uncheckedDDTMode }
    set { uncheckedDDTMode = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedDDTMode: RISCVIOMMUDDTPMode = .off
  @exclusivity(unchecked) public internal(set) var ddtPhys: UInt64 = 0
  @exclusivity(unchecked) var ddtRootValid = false
  /// Whether init_check took a translating IOMMU over by blocking it (`kernel-list`).
  @exclusivity(unchecked) public internal(set) var blockedHandover = false
  public let cmdq = RISCVIOMMUQueue()
  public let fltq = RISCVIOMMUQueue()
  /// Whether `iommu_device_register()` succeeded.
  @exclusivity(unchecked) public internal(set) var isRegistered = false
  /// Devices attached through `probe_device`, with the domain each one is attached to.
  @exclusivity(unchecked) public internal(set) var attached: [(device: Device, domain: RISCVIOMMUDomainType)] = []
  /// Page allocations (`riscv_iommu_get_pages`), released on remove as devres would.
  @exclusivity(unchecked) var pages: [DMABuffer] = []

  init(dev: Device, reg: IOMem, policy: RISCVIOMMUPolicy) {
    self.dev = dev
    self.reg = reg
    self.policy = policy
    memory = dev.core?.memory
    // Room for what one kernel's IOMMU holds (its queues, directory pages and a handful of
    // devices) from the start: grown one append at a time, both lists were reallocated often.
    attached.reserveCapacity(4)
    pages.reserveCapacity(8)
  }

  var kernel: Kernel? { dev.kernel }
  /// The driver core's memory (a `let` there), taken once at probe: every command and
  /// directory access reached it through the device's `core`.
  let memory: PhysicalMemory?

  /// Mirrors riscv_iommu_readq() / riscv_iommu_readl() / riscv_iommu_writeq() / riscv_iommu_writel(),
  /// drivers/iommu/riscv/iommu.h (Linux 7.2).
  func readq(_ offset: Int) throws(Errno) -> UInt64 { try reg.readq(offset) }
  func readl(_ offset: Int) throws(Errno) -> UInt32 { try reg.readl(offset) }
  func writeq(_ offset: Int, _ value: UInt64) throws(Errno) { try reg.writeq(value, offset) }
  func writel(_ offset: Int, _ value: UInt32) throws(Errno) { try reg.writel(value, offset) }

  /// Mirrors riscv_iommu_readq_timeout() / riscv_iommu_readl_timeout(), drivers/iommu/riscv/iommu.h
  /// (Linux 7.2): readx_poll_timeout on the kernel's simulated clock.
  func readqTimeout(_ offset: Int, sleepUs: UInt64, timeoutUs: UInt64, until cond: (UInt64) -> Bool)
    throws(Errno) -> Polled<UInt64>
  {
    try reg.pollTimeout(
      sleepUs: sleepUs, timeoutUs: timeoutUs, { () throws(Errno) in try reg.readq(offset) }, until: cond)
  }
  func readlTimeout(_ offset: Int, sleepUs: UInt64, timeoutUs: UInt64, until cond: (UInt32) -> Bool)
    throws(Errno) -> Polled<UInt32>
  {
    try reg.pollTimeout(
      sleepUs: sleepUs, timeoutUs: timeoutUs, { () throws(Errno) in try reg.readl(offset) }, until: cond)
  }

  // MARK: init_check, disable

  /// Mirrors riscv_iommu_init_check(), drivers/iommu/riscv/iommu.c (Linux 7.2), with the DDTP
  /// rules of the selected ``policy``.
  public func initCheck() throws(Errno) {
    let ddtp = RISCVIOMMUDDTP(raw: try readq(RISCVIOMMUDDTP.offset))
    if ddtp.busy { throw .EBUSY }

    let kdump = kernel?.isKdumpKernel ?? false
    let mode = ddtp.modeValue
    switch policy {
    case .kernel:
      // A previous kernel left translation on: only a crash kernel may take over, by disabling.
      if mode > RISCVIOMMUDDTPMode.bare.rawValue {
        if !kdump { throw .EBUSY }
        try disable()
      }
    case .blockingHandover:
      if kdump {
        if mode != RISCVIOMMUDDTPMode.off.rawValue { throw .EBUSY }
      } else if mode > RISCVIOMMUDDTPMode.bare.rawValue {
        throw .EBUSY
      }
    case .refuse:
      if mode > RISCVIOMMUDDTPMode.bare.rawValue { throw .EBUSY }
    case .kernelList:
      if mode > RISCVIOMMUDDTPMode.bare.rawValue { try blockHandover(ddtp) }
    }

    // Configure accesses to in-memory data structures for CPU-native byte order.
    let cpuBigEndian = kernel?.context.config.cpuBigEndian ?? false
    if cpuBigEndian != (fctl & RISCVIOMMUFCTL.BE != 0) {
      if !caps.end { throw .EINVAL }
      try writel(RISCVIOMMUFCTL.offset, fctl ^ RISCVIOMMUFCTL.BE)
      fctl = try readl(RISCVIOMMUFCTL.offset)
      if cpuBigEndian != (fctl & RISCVIOMMUFCTL.BE != 0) { throw .EINVAL }
    }

    // Distribute interrupt vectors, always use the first vector for CIV. Read back and verify.
    if irqsCount == 0 { throw .EINVAL }
    var wanted = RISCVIOMMUICVEC(raw: 0)
    wanted.fiv = UInt64(1 % irqsCount)
    wanted.piv = UInt64(2 % irqsCount)
    wanted.pmiv = UInt64(3 % irqsCount)
    try writeq(RISCVIOMMUICVEC.offset, wanted.raw)
    icvec = try readq(RISCVIOMMUICVEC.offset)
    let readBack = RISCVIOMMUICVEC(raw: icvec)
    if max(readBack.civ, readBack.fiv, readBack.piv, readBack.pmiv) >= UInt64(irqsCount) {
      throw .EINVAL
    }
  }

  /// Mirrors riscv_iommu_disable(), drivers/iommu/riscv/iommu.c (Linux 7.2): best effort, no
  /// waiting. Linux writes DDTP := BARE; the `blocking-handover` policy writes OFF instead.
  public func disable() throws(Errno) {
    try writeq(RISCVIOMMUDDTP.offset, RISCVIOMMUDDTP(mode: policy.disableMode.rawValue).raw)
    try writel(RISCVIOMMUQueueRegs.CQCSR, 0)
    try writel(RISCVIOMMUQueueRegs.FQCSR, 0)
    try writel(RISCVIOMMUQueueRegs.PQCSR, 0)
  }

  /// The `kernel-list` take-over of a translating IOMMU, in place of riscv_iommu_disable(). The
  /// previous kernel's queues live in its memory: they are stopped first, so that the IOMMU reads
  /// no more commands and writes no fault record there. Then DDTP := OFF with the PPN unchanged
  /// (the spec forbids changing it on the way to OFF): from this one write on, every
  /// transaction is aborted (cause 256). A write of xLVL over xLVL, which would replace the
  /// directory in one step, is UNSPECIFIED by the spec (QEMU accepts a same-mode write).
  func blockHandover(_ ddtp: RISCVIOMMUDDTP) throws(Errno) {
    try writel(RISCVIOMMUQueueRegs.CQCSR, 0)
    try writel(RISCVIOMMUQueueRegs.FQCSR, 0)
    try writel(RISCVIOMMUQueueRegs.PQCSR, 0)
    try writeq(RISCVIOMMUDDTP.offset, RISCVIOMMUDDTP(mode: RISCVIOMMUDDTPMode.off.rawValue, ppn: ddtp.raw).raw)
    blockedHandover = true
    dev.info("translation left on by the previous kernel, all DMA blocked (DDTP OFF)")
  }

  // MARK: init, remove

  /// Mirrors riscv_iommu_init(), drivers/iommu/riscv/iommu.c (Linux 7.2). Sysfs and RIMT
  /// registration have no register side and are not modelled.
  public func initialize() throws(Errno) {
    cmdq.setUp(.cq, qbr: RISCVIOMMUQueueRegs.CQB, qcr: RISCVIOMMUQueueRegs.CQCSR, count: RISCV_IOMMU_DEF_CQ_COUNT)
    fltq.setUp(.fq, qbr: RISCVIOMMUQueueRegs.FQB, qcr: RISCVIOMMUQueueRegs.FQCSR, count: RISCV_IOMMU_DEF_FQ_COUNT)

    try runInitCheck()
    try iodirAlloc()
    try queueAlloc(cmdq, entrySize: 16)
    try queueAlloc(fltq, entrySize: 32)
    try queueEnable(cmdq)
    do {
      try queueEnable(fltq)
      // The IOMMU may keep contexts and translations cached from the previous kernel's
      // directory across OFF: drop them before the new directory goes live.
      if blockedHandover { try invalidateAll() }
      try iodirSetMode(RISCVIOMMUDDTPMode.max)
    } catch {
      queueDisable(fltq)
      queueDisable(cmdq)
      throw error
    }
    iommuDeviceRegister()
  }

  /// The first step of riscv_iommu_init(), drivers/iommu/riscv/iommu.c (Linux 7.2): init_check,
  /// with its error reported as "unexpected device state" through dev_err_probe.
  public func runInitCheck() throws(Errno) {
    do {
      try initCheck()
    } catch {
      throw dev.errProbe(error, "unexpected device state")
    }
  }

  /// Mirrors riscv_iommu_remove(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  public func remove() {
    iommuDeviceUnregister()
    try? iodirSetMode(.off)
    queueDisable(cmdq)
    queueDisable(fltq)
    for page in pages { dev.dmaFreeCoherent(page) }
    pages = []
  }

  /// Mirrors riscv_iommu_get_pages(), drivers/iommu/riscv/iommu.c (Linux 7.2): zeroed pages,
  /// released with the device (devres).
  func getPages(_ size: UInt64) -> UInt64? {
    guard let buffer = try? dev.dmaAllocCoherent(size: size) else { return nil }
    pages.append(buffer)
    return buffer.address
  }
}
