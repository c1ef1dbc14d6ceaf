import MMIO

extension RISCVIOMMUHardware {
  /// The debug translation interface (spec §5.16, CAPABILITIES.DBG): every write to TR_REQ_CTL
  /// starts a translation of TR_REQ_IOVA for TR_REQ_CTL.DID (NW set: a read, else a write), as
  /// QEMU does; TR_RESPONSE receives the PPN [53:10], or FAULT (bit 0) with the cause in [19:10].
  /// Faults are not reported to the fault queue, and GO/BUSY is clear when the write returns.
  func debugTranslationRequested() {
    let s = RISCVIOMMUSpec.self
    let control = registers.peek(.qword, at: s.trReqCtl)
    let iova = registers.peek(.qword, at: s.trReqIOVA) & ~0xfff
    let did = UInt32((control >> 40) & 0xff_ffff)
    let noWrite = control & (1 << 3) != 0
    let response: UInt64
    switch lookup(streamID: did, address: iova, isWrite: !noWrite) {
    case .success(.translated(let pa)), .success(.bypassed(let pa)):
      response = ((pa >> 12) << 10) & s.ppnMask
    case .success(.blocked):
      response = 1
    case .failure(let f):
      response = 1 | (UInt64(f.cause & 0x3ff) << 10)
    }
    registers.poke(response, .qword, at: s.trResponse)
    registers.poke(control & ~1, .qword, at: s.trReqCtl)
  }
}
