import MMIO
import Memory

/// One fault the hardware reported (spec §4.2): cause, transaction type, device ID and the
/// faulting address.
public struct RISCVIOMMUFaultRecord: Sendable, Hashable, CustomStringConvertible {
  public var cause: UInt16
  public var transactionType: UInt64
  public var deviceID: UInt32
  public var iotval: UInt64
  /// Whether the record reached the fault queue in memory (false when the queue was off,
  /// full or in error).
  public var queued: Bool

  public var description: String {
    "fault cause \(cause) ttyp \(transactionType) did \(hex(deviceID)) iotval \(hex(iotval))"
      + (queued ? "" : " (not queued)")
  }
}

extension RISCVIOMMUHardware {
  /// Writes a 32-byte fault record at FQT and advances it. A full queue sets FQOF; a record that
  /// cannot be written sets FQMF; while either is set, new records are dropped.
  func reportFault(cause: UInt16, deviceID: UInt32, isWrite: Bool, iotval: UInt64) {
    let s = RISCVIOMMUSpec.self
    let ttyp = isWrite ? s.ttypUntranslatedWrite : s.ttypUntranslatedRead
    var record = RISCVIOMMUFaultRecord(
      cause: cause, transactionType: ttyp, deviceID: deviceID, iotval: iotval, queued: false)
    defer { faults.append(record) }
    guard let queue = activeQueues[.fault] else { return }
    let csr = registers.peek(.dword, at: s.fqcsr)
    guard csr & (s.csrMemoryFault | s.csrTimeoutOrOverflow) == 0 else { return }
    let head = UInt32(truncatingIfNeeded: registers.peek(.dword, at: s.fqh))
    let tail = UInt32(truncatingIfNeeded: registers.peek(.dword, at: s.fqt))
    let next = (tail &+ 1) & queue.mask
    if next == head {
      setCSRBits(.fault, s.csrTimeoutOrOverflow)
      raiseInterrupt(.fault)
      return
    }
    let header = UInt64(cause & 0xfff) | (ttyp << 34) | (UInt64(deviceID & 0xff_ffff) << 40)
    let address = queue.base + UInt64(tail) * 32
    do {
      try memory.write64(header, at: address)
      try memory.write64(0, at: address + 8)
      try memory.write64(iotval, at: address + 16)
      try memory.write64(0, at: address + 24)
    } catch {
      setCSRBits(.fault, s.csrMemoryFault)
      raiseInterrupt(.fault)
      return
    }
    registers.poke(UInt64(next), .dword, at: s.fqt)
    record.queued = true
    raiseInterrupt(.fault)
  }
}
