import DeviceCore
import Kernel
import MMIO
import Memory

// Mirrors the queue half of drivers/iommu/riscv/iommu.c (Linux 7.2): allocation, enable and
// disable, command submission and IOFENCE.C waits.

/// `struct riscv_iommu_queue`.
public final class RISCVIOMMUQueue {
  // Read for every command and set up at enable time by plain stores, never while another access
  // is in progress: no dynamic exclusivity checks.
  @exclusivity(unchecked) public internal(set) var qid: RISCVIOMMUIntr = .cq
  /// Base and control register offsets (`qbr`, `qcr`).
  @exclusivity(unchecked) public internal(set) var qbr = 0
  @exclusivity(unchecked) public internal(set) var qcr = 0
  /// Index mask: queue length - 1.
  @exclusivity(unchecked) public internal(set) var mask: UInt32 = 0
  /// Physical address of the ring.
  @exclusivity(unchecked) public internal(set) var phys: UInt64 = 0
  @exclusivity(unchecked) var entrySize: UInt64 = 16
  /// Unbounded producer, shadow consumer and shadow producer indices.
  // Updated for every command; plain integer stores, never held across a call: no dynamic
  // exclusivity checks.
  @exclusivity(unchecked) var prod: UInt32 = 0
  @exclusivity(unchecked) var head: UInt32 = 0
  @exclusivity(unchecked) var tail: UInt32 = 0
  /// `queue->iommu`: set while the queue is enabled.
  @exclusivity(unchecked) public internal(set) var isEnabled = false

  public init() {}

  /// Mirrors RISCV_IOMMU_QUEUE_INIT(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func setUp(_ qid: RISCVIOMMUIntr, qbr: Int, qcr: Int, count: UInt32) {
    self.qid = qid
    self.qbr = qbr
    self.qcr = qcr
    if mask == 0 { mask = count - 1 }
  }

  var headOffset: Int { qbr + (RISCVIOMMUQueueRegs.CQH - RISCVIOMMUQueueRegs.CQB) }
  var tailOffset: Int { qbr + (RISCVIOMMUQueueRegs.CQT - RISCVIOMMUQueueRegs.CQB) }
  var ipsrBit: UInt32 { 1 << qid.rawValue }
}

private func ilog2(_ v: UInt32) -> UInt64 { UInt64(31 - v.leadingZeroBitCount) }

extension RISCVIOMMUDevice {
  /// Mirrors riscv_iommu_queue_alloc(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueAlloc(_ queue: RISCVIOMMUQueue, entrySize: UInt64) throws(Errno) {
    // WARL base register: discover the maximum length and an optional fixed ring location.
    try writeq(queue.qbr, RISCV_IOMMU_QUEUE_LOG2SZ_FIELD)
    var qb = try readq(queue.qbr)
    var logsz = ilog2(queue.mask)
    logsz = min(logsz, qb & RISCV_IOMMU_QUEUE_LOG2SZ_FIELD)
    queue.entrySize = entrySize
    var base: UInt64? = nil
    if qb & RISCV_IOMMU_PPN_FIELD != 0 {
      base = ppn_to_phys(qb & RISCV_IOMMU_PPN_FIELD)
    } else {
      while true {
        let size = entrySize << (logsz + 1)
        base = getPages(max(size, 4096))
        if base != nil || logsz == 0 { break }
        logsz -= 1
      }
    }
    guard let phys = base else { throw .ENOMEM }
    queue.phys = phys
    qb = phys_to_ppn(phys) | (logsz & RISCV_IOMMU_QUEUE_LOG2SZ_FIELD)
    try writeq(queue.qbr, qb)
    let rb = try readq(queue.qbr)
    if rb != qb {
      dev.err("queue #\(queue.qid.rawValue) allocation failed")
      throw .ENODEV
    }
    queue.mask = (2 << UInt32(logsz)) - 1
    dev.dbg("queue #\(queue.qid.rawValue) allocated 2^\(logsz + 1) entries")
  }

  /// Mirrors riscv_iommu_queue_vec(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueVec(_ n: UInt32) -> Int { Int((icvec >> (UInt64(n) * 4)) & 0xf) }

  /// Mirrors riscv_iommu_queue_enable(), drivers/iommu/riscv/iommu.c (Linux 7.2). Interrupt
  /// handlers are requested but not run: the model delivers no interrupts.
  func queueEnable(_ queue: RISCVIOMMUQueue) throws(Errno) {
    let vec = queueVec(queue.qid.rawValue)
    let irq = vec < irqs.count ? irqs[vec] : 0
    if queue.isEnabled { throw .EBUSY }
    // Polling is not implemented.
    if irq == 0 { throw .ENODEV }
    queue.isEnabled = true
    // Empty the queue before enabling it.
    if queue.qid == .cq {
      try writel(queue.tailOffset, 0)
    } else {
      try writel(queue.headOffset, 0)
    }
    try writel(
      queue.qcr, RISCVIOMMUQueueCSR.ENABLE | RISCVIOMMUQueueCSR.INTR_ENABLE | RISCVIOMMUQueueCSR.MEM_FAULT)
    let csr = try readlTimeout(queue.qcr, sleepUs: 10, timeoutUs: RISCV_IOMMU_QCSR_TIMEOUT) {
      $0 & RISCVIOMMUQueueCSR.BUSY == 0
    }.value
    let state = csr & (RISCVIOMMUQueueCSR.ACTIVE | RISCVIOMMUQueueCSR.BUSY | RISCVIOMMUQueueCSR.MEM_FAULT)
    if state != RISCVIOMMUQueueCSR.ACTIVE {
      // Best effort to stop and disable the failing hardware queue.
      try writel(queue.qcr, 0)
      queue.isEnabled = false
      dev.err("queue #\(queue.qid.rawValue) failed to start")
      throw .EBUSY
    }
    // Clear any pending interrupt flag.
    try writel(RISCVIOMMUIPSR.offset, queue.ipsrBit)
  }

  /// Mirrors riscv_iommu_queue_disable(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueDisable(_ queue: RISCVIOMMUQueue) {
    guard queue.isEnabled else { return }
    defer { queue.isEnabled = false }
    guard (try? writel(queue.qcr, 0)) != nil,
      let csr = try? readlTimeout(
        queue.qcr, sleepUs: 10, timeoutUs: RISCV_IOMMU_QCSR_TIMEOUT, until: { $0 & RISCVIOMMUQueueCSR.BUSY == 0 }
      ).value
    else { return }
    if csr & (RISCVIOMMUQueueCSR.ACTIVE | RISCVIOMMUQueueCSR.BUSY) != 0 {
      dev.err("fail to disable hardware queue #\(queue.qid.rawValue), csr \(hex(csr))")
    }
  }

  /// Mirrors riscv_iommu_queue_cons(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueCons(_ queue: RISCVIOMMUQueue) throws(Errno) -> UInt32 {
    let cons = queue.head
    let last = cons & queue.mask
    let polled = try readlTimeout(queue.headOffset, sleepUs: 0, timeoutUs: RISCV_IOMMU_QUEUE_TIMEOUT) {
      $0 & ~queue.mask == 0
    }
    if polled.error != nil { return cons }
    return cons &+ ((polled.value &- last) & queue.mask)
  }

  /// Mirrors riscv_iommu_queue_wait(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueWait(_ queue: RISCVIOMMUQueue, index: UInt32, timeoutUs: UInt64) throws(Errno) -> Errno? {
    let flags = RISCVIOMMUQueueCSR.CQCSR_CQMF | RISCVIOMMUQueueCSR.CQCSR_CMD_TO | RISCVIOMMUQueueCSR.CQCSR_CMD_ILL
    if Int32(bitPattern: queue.head &- index) > 0 { return nil }
    var ioError: Errno? = nil
    let polled = try reg.pollTimeout(
      sleepUs: 0, timeoutUs: timeoutUs, { () throws(Errno) in try queueCons(queue) },
      until: { cons in
        // The condition reads CQCSR first, as the kernel's `||` does.
        let csr: UInt32
        do throws(Errno) { csr = try readl(queue.qcr) } catch {
          ioError = error
          return true
        }
        return csr & flags != 0 || Int32(bitPattern: cons &- index) > 0
      })
    if let ioError { throw ioError }
    return polled.error
  }

  /// Mirrors riscv_iommu_queue_send(), drivers/iommu/riscv/iommu.c (Linux 7.2), for a queue the
  /// model never fills: the entry is stored in the ring and the tail doorbell rung.
  @discardableResult
  func queueSend(_ queue: RISCVIOMMUQueue, _ entry: RISCVIOMMUCommand) throws(Errno) -> UInt32 {
    let prod = queue.prod
    queue.prod &+= 1
    let slot = queue.phys + UInt64(prod & queue.mask) * queue.entrySize
    do {
      try memory?.write64(entry.dword0, at: slot)
      try memory?.write64(entry.dword1, at: slot + 8)
    } catch {
      throw .EFAULT
    }
    try writel(queue.tailOffset, (prod &+ 1) & queue.mask)
    queue.tail &+= 1
    return prod
  }

  /// Mirrors riscv_iommu_cmd_send(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func cmdSend(_ cmd: RISCVIOMMUCommand) throws(Errno) {
    try queueSend(cmdq, cmd)
  }

  /// Mirrors riscv_iommu_cmd_sync(), drivers/iommu/riscv/iommu.c (Linux 7.2): IOFENCE.C, then
  /// wait for every command before it to complete.
  func cmdSync(timeoutUs: UInt64) throws(Errno) {
    let prod = try queueSend(cmdq, .iofence())
    if timeoutUs == 0 { return }
    if try queueWait(cmdq, index: prod, timeoutUs: timeoutUs) != nil {
      dev.err("Hardware error: command execution timeout")
    }
  }
}
