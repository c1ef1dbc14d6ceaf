import DeviceCore
import Kernel
import MMIO
import Memory

// Mirrors the interrupt half of drivers/iommu/riscv/iommu.c (Linux 7.2): the shared hard
// handler that checks IPSR, and the threaded handlers of the command and fault queues.

extension RISCVIOMMUDevice {
  /// An interrupt on `vector` (the MSI-X entry or wire ICVEC routes a cause to): every enabled
  /// queue whose vector it is runs riscv_iommu_queue_ipsr() and, when its IPSR bit is set, its
  /// thread function (IRQF_SHARED, IRQF_ONESHOT), as request_threaded_irq() arranges.
  public func handleInterrupt(vector: Int) {
    for queue in [cmdq, fltq] where queue.isEnabled && queueVec(queue.qid.rawValue) == vector {
      guard queueIPSR(queue) else { continue }
      if queue === cmdq {
        cmdqProcess(queue)
      } else {
        fltqProcess(queue)
      }
    }
  }

  /// Mirrors riscv_iommu_queue_ipsr(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueIPSR(_ queue: RISCVIOMMUQueue) -> Bool {
    guard let ipsr = try? readl(RISCVIOMMUIPSR.offset) else { return false }
    return ipsr & queue.ipsrBit != 0
  }

  /// Mirrors riscv_iommu_cmdq_process(), drivers/iommu/riscv/iommu.c (Linux 7.2): clears and
  /// reports command queue errors, then the pending bit.
  func cmdqProcess(_ queue: RISCVIOMMUQueue) {
    guard let ctrl = try? readl(queue.qcr) else { return }
    let errors =
      RISCVIOMMUQueueCSR.CQCSR_CQMF | RISCVIOMMUQueueCSR.CQCSR_CMD_TO | RISCVIOMMUQueueCSR.CQCSR_CMD_ILL
      | RISCVIOMMUQueueCSR.CQCSR_FENCE_W_IP
    if ctrl & errors != 0 {
      try? writel(queue.qcr, ctrl)
      func bit(_ b: UInt32) -> Int { ctrl & b != 0 ? 1 : 0 }
      dev.warn(
        "Queue #\(queue.qid.rawValue) error; fault:\(bit(RISCVIOMMUQueueCSR.CQCSR_CQMF)) "
          + "timeout:\(bit(RISCVIOMMUQueueCSR.CQCSR_CMD_TO)) illegal:\(bit(RISCVIOMMUQueueCSR.CQCSR_CMD_ILL)) "
          + "fence_w_ip:\(bit(RISCVIOMMUQueueCSR.CQCSR_FENCE_W_IP))")
    }
    try? writel(RISCVIOMMUIPSR.offset, queue.ipsrBit)
  }

  /// Mirrors riscv_iommu_fltq_process(), drivers/iommu/riscv/iommu.c (Linux 7.2): clears the
  /// pending bit, reports every fault record, then clears and reports queue errors.
  func fltqProcess(_ queue: RISCVIOMMUQueue) {
    try? writel(RISCVIOMMUIPSR.offset, queue.ipsrBit)
    while true {
      let (count, index) = queueConsume(queue)
      for n in 0..<UInt32(max(count, 0)) { fault(queue, index: index &+ n) }
      queueRelease(queue, count)
      if count <= 0 { break }
    }
    guard let ctrl = try? readl(queue.qcr) else { return }
    if ctrl & (RISCVIOMMUQueueCSR.MEM_FAULT | RISCVIOMMUQueueCSR.OVERFLOW) != 0 {
      try? writel(queue.qcr, ctrl)
      dev.warn(
        "Queue #\(queue.qid.rawValue) error; memory fault:\(ctrl & RISCVIOMMUQueueCSR.MEM_FAULT != 0 ? 1 : 0) "
          + "overflow:\(ctrl & RISCVIOMMUQueueCSR.OVERFLOW != 0 ? 1 : 0)")
    }
  }

  /// Mirrors riscv_iommu_fault(), drivers/iommu/riscv/iommu.c (Linux 7.2): report only.
  func fault(_ queue: RISCVIOMMUQueue, index: UInt32) {
    let record = queue.phys + UInt64(index & queue.mask) * queue.entrySize
    guard let memory, let hdr = try? memory.read64(record), let iotval = try? memory.read64(record + 16),
      let iotval2 = try? memory.read64(record + 24)
    else { return }
    let err = hdr & 0xfff
    let devid = hdr >> 40
    if err != 0 {
      dev.warn(
        "Fault \(err) devid: 0x\(plainHex(devid)) iotval: \(plainHex(iotval)) "
          + "iotval2: \(plainHex(iotval2))")
    }
  }

  /// Mirrors riscv_iommu_queue_consume(), drivers/iommu/riscv/iommu.c (Linux 7.2): the number of
  /// valid entries and the first index, updating the shadow producer index from FQT.
  func queueConsume(_ queue: RISCVIOMMUQueue) -> (count: Int32, index: UInt32) {
    let head = queue.head
    let last = queue.tail & queue.mask
    let available = Int32(bitPattern: queue.tail &- head)
    if available > 0 { return (available, head) }
    guard
      let polled = try? readlTimeout(
        queue.tailOffset, sleepUs: 0, timeoutUs: RISCV_IOMMU_QUEUE_TIMEOUT, until: { $0 & ~queue.mask == 0 }),
      polled.error == nil
    else {
      dev.err("Hardware error: queue access timeout")
      return (0, head)
    }
    if polled.value == last { return (0, head) }
    queue.tail &+= (polled.value &- last) & queue.mask
    return (Int32(bitPattern: queue.tail &- head), head)
  }

  /// Mirrors riscv_iommu_queue_release(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func queueRelease(_ queue: RISCVIOMMUQueue, _ count: Int32) {
    queue.head &+= UInt32(bitPattern: count)
    try? writel(queue.headOffset, queue.head & queue.mask)
  }
}
