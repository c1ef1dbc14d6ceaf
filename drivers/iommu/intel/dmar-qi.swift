import Kernel
import MMIO
import Memory

// Queued invalidation, fault handling and the fault interrupt: drivers/iommu/intel/dmar.c
// (Linux 7.2), the part of it that talks to GSTS, IQA/IQT and FSTS.

/// `struct q_inval`: the descriptor ring and its status words, both in kernel memory.
struct QInval {
  var desc: DMABuffer
  /// `desc_status[QI_LENGTH]` (ints), written QI_DONE by the hardware's wait descriptors.
  var status: DMABuffer
  var freeHead = 0
  var freeTail = 0
  var freeCount = QI_LENGTH
}

/// One invalidation descriptor (`struct qi_desc`, 128-bit form).
public struct QIDesc: Sendable, Hashable {
  public var qw0: UInt64
  public var qw1: UInt64
  public init(_ qw0: UInt64, _ qw1: UInt64 = 0) {
    self.qw0 = qw0
    self.qw1 = qw1
  }
}

let QI_IN_USE: UInt32 = 1
let QI_DONE: UInt32 = 2
let QI_FREE: UInt32 = 0

extension IntelIOMMU {

  /// Mirrors dmar_fault(), drivers/iommu/intel/dmar.c (Linux 7.2): the fault interrupt handler,
  /// also called with irq -1 to clear faults left by firmware or the previous kernel. Reads
  /// FSTS and, when a primary fault is pending, logs and clears each fault record, then the
  /// status.
  func dmarFault() throws(DMARError) {
    let fsts = try readl(DMARReg.FSTS)
    if fsts != 0 { kernel.printk(.err, "DMAR: DRHD: handling fault status reg \(String(fsts, radix: 16))") }
    guard fsts & DMA_FSTS_PPF != 0 else { return }
    var index = Int(fsts >> 8 & 0xff)
    let base = cap.faultRegOffset
    while true {
      let hi = try readl(base + index * 16 + 12)
      guard hi & (1 << 31) != 0 else { break }
      let reason = Int(hi & 0xff)
      let type = hi & (1 << 30) != 0 ? "Read" : "Write"
      let sid = try readl(base + index * 16 + 8) & 0xffff
      let lo = try readq(base + index * 16)
      try writel(1 << 31, base + index * 16 + 12)
      let text = reason < dmaRemapFaultReasons.count ? dmaRemapFaultReasons[reason] : "Unknown"
      kernel.printk(
        .err,
        "DMAR: [DMA \(type) NO_PASID] Request device [\(bdf(UInt16(sid)))] fault addr \(hex(lo & ~0xfff)) [fault reason \(hex(reason, digits: 2))] \(text)"
      )
      index = (index + 1) % cap.numFaultRegs
    }
    try writel(DMA_FSTS_PFO | DMA_FSTS_PPF | DMA_FSTS_PRO, DMARReg.FSTS)
  }

  /// Mirrors dmar_disable_qi(), drivers/iommu/intel/dmar.c (Linux 7.2): if QIES is set, lets
  /// the hardware drain (IQT == IQH, bounded by DMAR_OPERATION_TIMEOUT), clears QIE and waits
  /// for QIES to drop.
  func dmarDisableQI() throws(DMARError) {
    guard ecap.qis else { return }
    let sts = try readl(DMARReg.GSTS)
    guard sts & DMAGcmd.QIE != 0 else { return }
    let clock = kernel.clock
    let start = clock.nanoseconds
    while try readl(DMARReg.IQT) != readl(DMARReg.IQH),
      clock.nanoseconds - start < DMAR_OPERATION_TIMEOUT_US * 1_000
    {
      clock.advance(nanoseconds: clock.busyWaitStepNanoseconds)
    }
    gcmd &= ~DMAGcmd.QIE
    try writel(gcmd, DMARReg.GCMD)
    try waitOp(DMARReg.GSTS, "GSTS.QIES clear") { $0 & DMAGcmd.QIE == 0 }
  }

  /// Mirrors dmar_enable_qi() and __dmar_enable_qi(), drivers/iommu/intel/dmar.c (Linux 7.2):
  /// -ENOENT without ECAP.QI; otherwise allocates the ring (one page, 256 descriptors) and the
  /// status words, writes IQT = 0 and IQA, sets QIE and waits for QIES.
  func dmarEnableQI() throws(DMARError) {
    guard ecap.qis else { throw .errno(.ENOENT) }
    if qi != nil { return }
    let desc = try driver.allocPages(ecap.smts ? 2 : 1)
    let status = try driver.allocPages(1)
    qi = QInval(desc: desc, status: status)
    var val = desc.address
    if ecap.smts { val |= 1 << 11 | 1 << 0 }
    try writel(0, DMARReg.IQT)
    try writeq(val, DMARReg.IQA)
    gcmd |= DMAGcmd.QIE
    try writel(gcmd, DMARReg.GCMD)
    try waitOp(DMARReg.GSTS, "GSTS.QIES") { $0 & DMAGcmd.QIE != 0 }
  }

  /// `qi_shift()`: 16-byte descriptors, 32-byte in scalable mode.
  var qiShift: Int { ecap.smts ? 5 : 4 }

  /// Mirrors qi_submit_sync(), drivers/iommu/intel/dmar.c (Linux 7.2): copies the descriptors
  /// and a wait descriptor (status write of QI_DONE to `desc_status[wait_index]`) into the ring,
  /// moves IQT, and spins on the status word, checking faults (qi_check_fault()). The kernel
  /// spins without limit; the model reports a hang after DMAR_OPERATION_TIMEOUT.
  func qiSubmitSync(_ descs: [QIDesc]) throws(DMARError) {
    guard var q = qi else { return }
    let count = descs.count
    let index = q.freeHead
    let waitIndex = (index + count) % QI_LENGTH
    let shift = qiShift
    do {
      for (i, d) in descs.enumerated() {
        let slot = (index + i) % QI_LENGTH
        try memory.write64(d.qw0, at: q.desc.address + UInt64(slot << shift))
        try memory.write64(d.qw1, at: q.desc.address + UInt64(slot << shift) + 8)
        try memory.write32(QI_IN_USE, at: q.status.address + UInt64(slot * 4))
      }
      let statusAddress = q.status.address + UInt64(waitIndex * 4)
      try memory.write32(QI_IN_USE, at: statusAddress)
      let wait = UInt64(QI_DONE) << 32 | 1 << 5 | 5
      try memory.write64(wait, at: q.desc.address + UInt64(waitIndex << shift))
      try memory.write64(statusAddress, at: q.desc.address + UInt64(waitIndex << shift) + 8)
    } catch {
      throw .errno(.ENOMEM)
    }
    q.freeHead = (q.freeHead + count + 1) % QI_LENGTH
    qi = q
    try writel(UInt32(q.freeHead << shift), DMARReg.IQT)
    let clock = kernel.clock
    let start = clock.nanoseconds
    var rc: DMARError?
    while (try? memory.read32(q.status.address + UInt64(waitIndex * 4))) != QI_DONE {
      if let e = try qiCheckFault(index: index, waitIndex: waitIndex) {
        rc = e
        break
      }
      if clock.nanoseconds - start > DMAR_OPERATION_TIMEOUT_US * 1_000 {
        throw .fatal(
          KernelFatal(
            kind: .hang, message: "DMAR: \(name): queued invalidation never completed",
            detail: "wait descriptor at slot \(waitIndex) never wrote QI_DONE; qi_submit_sync() spins forever"))
      }
      clock.advance(nanoseconds: clock.busyWaitStepNanoseconds)
    }
    for i in 0...count {
      try? memory.write32(QI_FREE, at: q.status.address + UInt64(((index + i) % QI_LENGTH) * 4))
    }
    if let rc { throw rc }
  }

  /// Mirrors qi_check_fault(), drivers/iommu/intel/dmar.c (Linux 7.2), for the invalidation
  /// queue error: when IQH points at this submission, the bad descriptor is overwritten with the
  /// wait descriptor, IQE is cleared and the submission fails with -EINVAL.
  private func qiCheckFault(index: Int, waitIndex: Int) throws(DMARError) -> DMARError? {
    let fault = try readl(DMARReg.FSTS)
    guard fault & DMA_FSTS_IQE != 0, let q = qi else { return nil }
    let head = Int(try readl(DMARReg.IQH))
    guard head >> qiShift == index else { return nil }
    if let w0 = try? memory.read64(q.desc.address + UInt64(waitIndex << qiShift)),
      let w1 = try? memory.read64(q.desc.address + UInt64(waitIndex << qiShift) + 8)
    {
      try? memory.write64(w0, at: q.desc.address + UInt64(head))
      try? memory.write64(w1, at: q.desc.address + UInt64(head) + 8)
    }
    try writel(DMA_FSTS_IQE, DMARReg.FSTS)
    kernel.printk(.info, "DMAR: Invalidation Queue Error (IQE) cleared")
    return .errno(.EINVAL)
  }

  /// Mirrors qi_flush_context(), drivers/iommu/intel/dmar.c (Linux 7.2): granularity 1 global,
  /// 2 domain, 3 device.
  func qiFlushContext(did: UInt16, sid: UInt16, fm: UInt8, granularity: UInt64) throws(DMARError) {
    let qw0 = UInt64(fm) << 48 | UInt64(sid) << 32 | UInt64(did) << 16 | granularity << 4 | 1
    try qiSubmitIgnoringErrno([QIDesc(qw0)])
  }

  /// qi_submit_sync() from a void function (qi_flush_context(), qi_flush_iotlb(),
  /// qi_global_iec(), qi_flush_pasid_cache()): a negative return is dropped, a panic or hang is not.
  func qiSubmitIgnoringErrno(_ descs: [QIDesc]) throws(DMARError) {
    do { try qiSubmitSync(descs) } catch {
      if case .fatal = error { throw error }
    }
  }

  /// Mirrors qi_flush_iotlb(), drivers/iommu/intel/dmar.c (Linux 7.2): granularity 1 global,
  /// 2 domain, 3 page; read/write drain when CAP.DRD/DWD.
  func qiFlushIOTLB(did: UInt16, granularity: UInt64) throws(DMARError) {
    var qw0 = UInt64(did) << 16 | granularity << 4 | 2
    if cap.readDrain { qw0 |= 1 << 7 }
    if cap.writeDrain { qw0 |= 1 << 6 }
    try qiSubmitIgnoringErrno([QIDesc(qw0)])
  }

  /// Mirrors qi_flush_iec() / qi_global_iec(), drivers/iommu/intel/dmar.c (Linux 7.2): one IRTE
  /// (selective, with index and mask) or the whole interrupt entry cache.
  func qiFlushIEC(index: UInt16?, mask: UInt8 = 0) throws(DMARError) {
    guard let index else {
      try qiSubmitIgnoringErrno([QIDesc(4)])
      return
    }
    try qiSubmitSync([QIDesc(UInt64(index) << 32 | UInt64(mask) << 27 | 1 << 4 | 4)])
  }

  /// Mirrors dmar_set_interrupt() with dmar_msi_write() and dmar_msi_unmask(),
  /// drivers/iommu/intel/dmar.c (Linux 7.2): the fault event MSI message is written when the
  /// vector is activated and again when it starts up, then FECTL is unmasked and read back.
  func dmarSetInterrupt() throws(DMARError) {
    guard !faultIRQ else { return }
    let msg = driver.faultMSI
    for _ in 0..<2 {
      try writel(msg.data, DMARReg.FEDATA)
      try writel(UInt32(truncatingIfNeeded: msg.address), DMARReg.FEADDR)
      try writel(UInt32(truncatingIfNeeded: msg.address >> 32), DMARReg.FEUADDR)
    }
    try writel(0, DMARReg.FECTL)
    _ = try readl(DMARReg.FECTL)
    faultIRQ = true
  }
}

func bdf(_ rid: UInt16) -> String {
  func h2(_ v: UInt16) -> String { String(v, radix: 16).count == 1 ? "0" + String(v, radix: 16) : String(v, radix: 16) }
  return "\(h2(rid >> 8)):\(h2(rid >> 3 & 0x1f)).\(rid & 7)"
}

/// `dma_remap_fault_reasons[]`, drivers/iommu/intel/dmar.c (Linux 7.2), the first entries.
let dmaRemapFaultReasons = [
  "Software", "Present bit in root entry is clear", "Present bit in context entry is clear",
  "Invalid context entry", "Access beyond MGAW", "PTE Write access is not set",
  "PTE Read access is not set", "Next page table ptr is invalid", "Root table address invalid",
  "Context table ptr is invalid", "non-zero reserved fields in RTP", "non-zero reserved fields in CTP",
  "non-zero reserved fields in PTE", "PCE for translation request specifies blocking",
]
