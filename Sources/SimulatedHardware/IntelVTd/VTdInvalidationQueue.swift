import MMIO
import Memory

/// Invalidation descriptor types (VT-d specification 6.5.2), low 4 bits of the first qword.
public enum VTdDescriptor {
  public static let contextCache: UInt64 = 1
  public static let iotlb: UInt64 = 2
  public static let deviceIOTLB: UInt64 = 3
  public static let interruptEntryCache: UInt64 = 4
  public static let wait: UInt64 = 5
  public static let pasidIOTLB: UInt64 = 6
  public static let pasidCache: UInt64 = 7

  /// QEMU's name for a type, as `vtd_inv_desc` prints it.
  static func name(_ type: UInt64) -> String {
    switch type {
    case contextCache: "context-cache"
    case iotlb: "iotlb"
    case deviceIOTLB: "device-iotlb"
    case interruptEntryCache: "iec"
    case wait: "wait"
    case pasidIOTLB: "p_iotlb"
    case pasidCache: "pc"
    default: "invalid"
    }
  }
}

extension IntelVTd {
  /// Mirrors vtd_handle_iqt_write(): latches the tail and, with QI on and no queue error
  /// pending (FSTS.IQE), processes descriptors up to it.
  func handleIQTWrite() {
    let iqt = registers.peek(.qword, at: VTd.IQT)
    queueTail = Int(queueWide ? (iqt >> 5) & 0x3FFF : (iqt >> 4) & 0x7FFF)
    let fsts = UInt32(truncatingIfNeeded: registers.peek(.dword, at: VTd.FSTS))
    if queueEnabled && fsts & VTd.fstsIQE == 0 && !stalledInvalidationQueue { fetchDescriptors() }
  }

  /// Mirrors vtd_fetch_inv_desc(): consumes descriptors from head to tail, updating IQH after
  /// each; a bad tail or a bad descriptor sets FSTS.IQE and stops with IQH at the bad one.
  func fetchDescriptors() {
    guard queueTail < queueEntries else {
      queueError()
      return
    }
    while queueHead != queueTail {
      guard processDescriptor() else {
        queueError()
        return
      }
      let shift: UInt64 = queueWide ? 5 : 4
      registers.poke((UInt64(queueHead) << shift) & 0x7FFF0, .qword, at: VTd.IQH)
    }
  }

  private func queueError() {
    let fsts = registers.peek(.dword, at: VTd.FSTS)
    registers.poke(fsts | UInt64(VTd.fstsIQE), .dword, at: VTd.FSTS)
  }

  /// Mirrors vtd_process_inv_desc(): reads the descriptor at the head and carries it out.
  /// Returns false for a descriptor the hardware rejects (the queue then stops).
  private func processDescriptor() -> Bool {
    let size: UInt64 = queueWide ? 32 : 16
    let address = queueBase + UInt64(queueHead) * size
    guard let lo = try? memory.read64(address), let hi = try? memory.read64(address + 8) else {
      return false
    }
    let type = lo & 0xF
    event("vtd_inv_desc invalidate desc type \(VTdDescriptor.name(type)) high \(hex(hi)) low \(hex(lo))")
    let ok: Bool
    switch type {
    case VTdDescriptor.contextCache: ok = contextCacheInvalidation(lo)
    case VTdDescriptor.iotlb: ok = iotlbInvalidation(lo, hi)
    case VTdDescriptor.interruptEntryCache:
      let granularity = (lo >> 4) & 1
      let index = (lo >> 32) & 0xFFFF
      let mask = (lo >> 27) & 0x1F
      event(
        "vtd_inv_desc_iec granularity \(hex(granularity)) index \(hex(index)) mask \(hex(mask))")
      ok = true
    case VTdDescriptor.wait: ok = waitDescriptor(lo, hi)
    case VTdDescriptor.deviceIOTLB, VTdDescriptor.pasidIOTLB, VTdDescriptor.pasidCache:
      // Nothing is cached by the model, so there is nothing to drop.
      ok = true
    default: ok = false
    }
    guard ok else { return false }
    lastDescriptorType = type
    queueHead = (queueHead + 1) % queueEntries
    return true
  }

  private func contextCacheInvalidation(_ lo: UInt64) -> Bool {
    switch (lo >> 4) & 0x3 {
    case 1: event("vtd_inv_desc_cc_global context invalidate globally")
    case 2: event("vtd_inv_desc_cc_domain context invalidate domain \(hex((lo >> 16) & 0xFFFF))")
    case 3:
      let sid = (lo >> 32) & 0xFFFF
      event(
        "vtd_inv_desc_cc_device context invalidate device \(hex(sid >> 8)):\(hex((sid >> 3) & 0x1F)).\(hex(sid & 7))")
    default:
      event("vtd_inv_desc_cc_invalid invalid context-cache desc: hi 0x0, lo \(hex(lo))")
      return false
    }
    return true
  }

  private func iotlbInvalidation(_ lo: UInt64, _ hi: UInt64) -> Bool {
    let did = (lo >> 16) & 0xFFFF
    switch (lo >> 4) & 0x3 {
    case 1: event("vtd_inv_desc_iotlb_global iotlb invalidate global")
    case 2: event("vtd_inv_desc_iotlb_domain iotlb invalidate whole domain \(hex(did))")
    case 3:
      event(
        "vtd_inv_desc_iotlb_pages iotlb page invalidate domain \(hex(did)) addr \(hex(hi & ~0xFFF)) mask \(hex(hi & 0x3F))"
      )
    default:
      event("vtd_inv_desc_iotlb_invalid invalid iotlb desc: hi \(hex(hi)), lo \(hex(lo))")
      return false
    }
    return true
  }

  /// Mirrors vtd_process_wait_desc(): with SW (bit 5) the status data (bits 63:32) is written
  /// to the 4-byte status address; with IF (bit 4) ICS.IWC is set; neither is an error.
  private func waitDescriptor(_ lo: UInt64, _ hi: UInt64) -> Bool {
    if lo & (1 << 5) != 0 {
      let address = hi & ~0x3
      let data = UInt32(truncatingIfNeeded: lo >> 32)
      event("vtd_inv_desc_wait_sw wait invalidate status write addr \(hex(address)) data \(hex(data))")
      guard (try? memory.write32(data, at: address)) != nil else { return false }
      return true
    }
    if lo & (1 << 4) != 0 {
      event("vtd_inv_desc_wait_irq wait invalidate interrupt")
      registers.poke(registers.peek(.dword, at: VTd.ICS) | 1, .dword, at: VTd.ICS)
      return true
    }
    return false
  }
}
