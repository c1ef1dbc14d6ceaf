import MMIO
import Memory

/// One DMA remapping fault (VT-d specification 7.1.3).
public struct VTdFault: Sendable, Hashable, CustomStringConvertible {
  /// Fault reasons the model produces (VT-d specification appendix A).
  public enum Reason: UInt8, Sendable, Hashable {
    case rootEntryNotPresent = 0x1
    case contextEntryNotPresent = 0x2
    case invalidContextEntry = 0x3
    case addressBeyondWidth = 0x4
    case writeNotPermitted = 0x5
    case readNotPermitted = 0x6
    case pagingEntryAccessError = 0x7
    case rootTableAccessError = 0x8
    case contextTableAccessError = 0x9
  }
  public var sourceID: UInt16
  public var address: UInt64
  public var reason: Reason
  public var isWrite: Bool
  /// Whether it reached the fault recording register (not suppressed by FPD, no overflow).
  public var recorded: Bool

  public var description: String {
    let bdf =
      "\(hex(sourceID >> 8, digits: 2).dropFirst(2)):\(hex((sourceID >> 3) & 0x1F, digits: 2).dropFirst(2)).\(sourceID & 7)"
    return
      "[DMA \(isWrite ? "Write" : "Read")] Request device [\(bdf)] fault addr \(hex(address)) reason \(hex(reason.rawValue, digits: 2))"
  }
}

extension IntelVTd {
  /// Routes one DMA request from requester ID `streamID` (bus << 8 | devfn).
  ///
  /// TE=0: untranslated. TE=1 with a legacy root table: root entry by bus, context entry by
  /// devfn, then pass-through (TT=2, when ECAP.PT) or a second-level walk of 3, 4 or 5 levels
  /// (context AW) with 2 MiB / 1 GiB superpages. Faults are recorded in FRCD0 and FSTS unless
  /// the context entry sets FPD. Scalable-mode tables are latched but not walked by the model.
  public func route(streamID: UInt32, address: UInt64, isWrite: Bool) -> DMARoute {
    guard translationEnabled else { return .bypassed(physical: address) }
    let sid = UInt16(truncatingIfNeeded: streamID)
    if rootScalable { return .blocked(reason: "scalable-mode translation is not modelled") }
    func fault(_ reason: VTdFault.Reason, suppressed: Bool = false) -> DMARoute {
      recordFault(
        VTdFault(sourceID: sid, address: address, reason: reason, isWrite: isWrite, recorded: false),
        suppressed: suppressed)
      return .blocked(reason: describesBlockedRoutes ? "DMAR fault reason \(hex(reason.rawValue, digits: 2))" : "")
    }
    let bus = UInt64(sid >> 8)
    let devfn = UInt64(sid & 0xFF)
    guard let root = try? memory.read64(rootPointer + bus * 16) else {
      return fault(.rootTableAccessError)
    }
    guard root & 1 != 0 else { return fault(.rootEntryNotPresent) }
    let contextAddress = (root & ~0xFFF & addressMask) + devfn * 16
    guard let clo = try? memory.read64(contextAddress), let chi = try? memory.read64(contextAddress + 8)
    else { return fault(.contextTableAccessError) }
    let fpd = clo & 2 != 0
    guard clo & 1 != 0 else { return fault(.contextEntryNotPresent, suppressed: fpd) }
    switch (clo >> 2) & 0x3 {
    case 2:
      guard ecap & (1 << 6) != 0 else { return fault(.invalidContextEntry, suppressed: fpd) }
      return .bypassed(physical: address)
    case 0, 1:
      return walk(
        table: clo & ~0xFFF & addressMask, aw: Int(chi & 0x7), address: address, isWrite: isWrite,
        fault: { fault($0, suppressed: fpd) })
    default:
      return fault(.invalidContextEntry, suppressed: fpd)
    }
  }

  /// The second-level page walk of VT-d specification 3.7 (legacy mode).
  private func walk(
    table: UInt64, aw: Int, address: UInt64, isWrite: Bool, fault: (VTdFault.Reason) -> DMARoute
  ) -> DMARoute {
    guard (1...3).contains(aw), cap & (1 << UInt64(8 + aw)) != 0 else {
      return fault(.invalidContextEntry)
    }
    let levels = aw + 2
    let width = 12 + 9 * levels
    guard address >> UInt64(width) == 0 else { return fault(.addressBeyondWidth) }
    var tableAddress = table
    for level in stride(from: levels, through: 1, by: -1) {
      let shift = UInt64(12 + 9 * (level - 1))
      let index = (address >> shift) & 0x1FF
      guard let pte = try? memory.read64(tableAddress + index * 8) else {
        return fault(.pagingEntryAccessError)
      }
      if isWrite && pte & 2 == 0 { return fault(.writeNotPermitted) }
      if !isWrite && pte & 1 == 0 { return fault(.readNotPermitted) }
      let next = pte & 0x000F_FFFF_FFFF_F000
      if level == 1 || (level <= 3 && pte & (1 << 7) != 0) {
        let offsetMask = (UInt64(1) << shift) - 1
        return .translated(physical: (next & ~offsetMask) | (address & offsetMask))
      }
      tableAddress = next
    }
    return fault(.pagingEntryAccessError)
  }

  /// Mirrors vtd_report_frcd_fault()/vtd_record_frcd(): the fault goes to FRCD0 (NFR = 1) with
  /// FSTS.PPF and FRI; a record still holding F overflows (FSTS.PFO); FPD suppresses it.
  func recordFault(_ f: VTdFault, suppressed: Bool) {
    var f = f
    let fsts = UInt32(truncatingIfNeeded: registers.peek(.dword, at: VTd.FSTS))
    let hi = registers.peek(.qword, at: VTd.faultRecordOffset + 8)
    if !suppressed {
      if fsts & VTd.fstsPFO != 0 {
        // Overflow pending: the hardware drops the fault.
      } else if hi & VTd.frcdF != 0 {
        registers.poke(UInt64(fsts | VTd.fstsPFO), .dword, at: VTd.FSTS)
      } else {
        registers.poke(f.address & ~0xFFF, .qword, at: VTd.faultRecordOffset)
        let record =
          VTd.frcdF | (f.isWrite ? 0 : 1 << 62) | UInt64(f.reason.rawValue) << 32 | UInt64(f.sourceID)
        registers.poke(record, .qword, at: VTd.faultRecordOffset + 8)
        registers.poke(UInt64(fsts | VTd.fstsPPF) & ~0xFF00, .dword, at: VTd.FSTS)
        let fectl = registers.peek(.dword, at: VTd.FECTL)
        registers.poke(fectl | 1 << 30, .dword, at: VTd.FECTL)  // IP
        f.recorded = true
      }
    }
    faultLog.append(f)
  }
}
