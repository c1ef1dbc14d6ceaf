import MMIO
import Memory

extension ARMSMMUv2 {
  /// Routes one transaction the way the SMMUv2 architecture does:
  /// 1. sCR0.CLIENTPD set: the client port is disabled, everything bypasses;
  /// 2. stream matching (SMRs) or stream indexing picks a stream-to-context register; an
  ///    unmatched stream faults (recorded in sGFSR.USF / sGFSYNRn) when sCR0.USFCFG is set and
  ///    bypasses otherwise; two matching SMRs are a stream match conflict (sGFSR.SMCF);
  /// 3. S2CR.TYPE bypass passes through, fault aborts, translate goes to context bank CBNDX,
  ///    which bypasses with SCTLR.M clear and walks its LPAE tables with SCTLR.M set.
  public func route(streamID: UInt32, address: UInt64, isWrite: Bool) -> DMARoute {
    let scr0 = sCR0
    if scr0 & SMMUv2Bits.sCR0CLIENTPD != 0 { return .bypassed(physical: address) }
    let sid = streamID & 0xffff
    let index: Int
    switch streamMapEntry(for: sid, exid: scr0 & SMMUv2Bits.sCR0EXIDENABLE != 0) {
    case .matched(let i):
      index = i
    case .conflict(let groups):
      recordGlobalFault(SMMUv2Bits.sGFSRSMCF, streamID: sid, isWrite: isWrite)
      return blocked("stream match conflict for stream \(hex(sid)) (SMR \(groups))")
    case .unmatched:
      guard scr0 & SMMUv2Bits.sCR0USFCFG != 0 else { return .bypassed(physical: address) }
      recordGlobalFault(SMMUv2Bits.sGFSRUSF, streamID: sid, isWrite: isWrite)
      return blocked("unidentified stream \(hex(sid)) faulted (sCR0.USFCFG=1)")
    }
    let s2cr = peek32(SMMUv2Offsets.s2cr(index))
    switch s2cr[bits: 16...17] {
    case 1:
      return .bypassed(physical: address)
    case 2:
      return blocked("stream \(hex(sid)) aborted by S2CR\(index) (TYPE=FAULT)")
    case 0:
      return translate(
        contextBank: Int(s2cr[bits: 0...7]), streamID: sid, address: address, isWrite: isWrite)
    default:
      return blocked("stream \(hex(sid)): S2CR\(index) TYPE is reserved")
    }
  }

  enum StreamMapEntry {
    case matched(Int)
    case conflict([Int])
    case unmatched
  }

  /// Which stream map entry takes `sid`: the SMRs that are valid and match under their mask,
  /// or, without stream matching, the S2CR indexed by the stream ID.
  func streamMapEntry(for sid: UInt32, exid: Bool) -> StreamMapEntry {
    let c = configuration
    guard c.streamMatching else {
      return Int(sid) < c.numS2CRs ? .matched(Int(sid)) : .unmatched
    }
    // The first match, and every match only on a conflict: one DMA routes through here per
    // transaction, and an array per lookup costs more than the lookup.
    var first = -1
    var hits: [Int] = []
    for n in 0..<c.numSMRGroups {
      let smr = peek32(SMMUv2Offsets.smr(n))
      let valid =
        exid
        ? peek32(SMMUv2Offsets.s2cr(n)) & SMMUv2Bits.s2crEXIDVALID != 0
        : smr & SMMUv2Bits.smrValid != 0
      guard valid else { continue }
      let id = smr & 0xffff
      let mask = exid ? smr >> 16 : (smr >> 16) & 0x7fff
      guard (sid ^ id) & ~mask & 0xffff == 0 else { continue }
      if first < 0 {
        first = n
      } else {
        if hits.isEmpty { hits.append(first) }
        hits.append(n)
      }
    }
    if first < 0 { return .unmatched }
    return hits.isEmpty ? .matched(first) : .conflict(hits)
  }

  /// Latches a global fault: the first one sets the syndrome, a later one only sets MULTI.
  func recordGlobalFault(_ bit: UInt32, streamID sid: UInt32, isWrite: Bool) {
    let gfsr = peek32(SMMUv2Offsets.sGFSR)
    if gfsr != 0 {
      poke32(gfsr | SMMUv2Bits.sGFSRMULTI, SMMUv2Offsets.sGFSR)
      return
    }
    poke32(bit, SMMUv2Offsets.sGFSR)
    poke32(isWrite ? SMMUv2Bits.sGFSYNR0WNR : 0, SMMUv2Offsets.sGFSYNR0)
    poke32(sid, SMMUv2Offsets.sGFSYNR1)
    poke32(0, SMMUv2Offsets.sGFSYNR2)
  }

  /// The reason is built only when the model describes blocked routes.
  func blocked(_ reason: @autoclosure () -> String) -> DMARoute {
    .blocked(reason: noteFault(reason()))
  }

  /// A transaction handed to context bank `n`.
  func translate(contextBank n: Int, streamID sid: UInt32, address: UInt64, isWrite: Bool)
    -> DMARoute
  {
    let c = configuration
    guard n < c.numContextBanks else {
      recordGlobalFault(SMMUv2Bits.sGFSRUCBF, streamID: sid, isWrite: isWrite)
      return blocked("stream \(hex(sid)) routed to unimplemented context bank \(n)")
    }
    let cb = c.contextBankOffset(n)
    let sctlr = peek32(cb + SMMUv2Offsets.cbSCTLR)
    // SCTLR.M clear: the bank does not translate; the transaction passes through untranslated.
    if sctlr & SMMUv2Bits.sctlrM == 0 { return .bypassed(physical: address) }
    switch walk(contextBank: n, address: address, isWrite: isWrite) {
    case .success(let pa):
      return .translated(physical: pa)
    case .failure(let fault):
      recordContextFault(n, fault: fault, streamID: sid, address: address, isWrite: isWrite)
      return blocked("stream \(hex(sid)) context bank \(n): \(fault.reason)")
    }
  }

  /// Latches a context fault in CB_FSR / CB_FAR / CB_FSYNR0 and CBFRSYNRA.
  func recordContextFault(
    _ n: Int, fault: WalkFault, streamID sid: UInt32, address: UInt64, isWrite: Bool
  ) {
    let c = configuration
    let cb = c.contextBankOffset(n)
    let fsr = peek32(cb + SMMUv2Offsets.cbFSR)
    if fsr & SMMUv2Bits.fsrAllFaults != 0 {
      poke32(fsr | SMMUv2Bits.fsrMULTI, cb + SMMUv2Offsets.cbFSR)
      return
    }
    poke32(fault.fsrBit, cb + SMMUv2Offsets.cbFSR)
    registers.poke(address, .qword, at: cb + SMMUv2Offsets.cbFAR)
    poke32((isWrite ? 1 << 4 : 0) | UInt32(fault.level & 3), cb + SMMUv2Offsets.cbFSYNR0)
    poke32(sid, c.gr1Offset + SMMUv2Offsets.cbfrsynra(n))
  }
}
