import MMIO
import Memory

/// A command opcode of the SMMUv3 command queue, named as the architecture (and QEMU's
/// `SMMU_CMD_*` trace) names it.
public enum SMMUv3Opcode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case prefetchConfig = 0x01
  case prefetchAddr = 0x02
  case cfgiSTE = 0x03
  /// Linux's CMDQ_OP_CFGI_ALL is this opcode with RANGE=31.
  case cfgiSTERange = 0x04
  case cfgiCD = 0x05
  case cfgiCDAll = 0x06
  case cfgiVMSPIDR = 0x07
  case tlbiNHAll = 0x10
  case tlbiNHASID = 0x11
  case tlbiNHVA = 0x12
  case tlbiNHVAA = 0x13
  case tlbiEL3All = 0x18
  case tlbiEL3VA = 0x1a
  case tlbiEL2All = 0x20
  case tlbiEL2ASID = 0x21
  case tlbiEL2VA = 0x22
  case tlbiEL2VAA = 0x23
  case tlbiS12VMAll = 0x28
  case tlbiS2IPA = 0x2a
  case tlbiNSNHAll = 0x30
  case atcInv = 0x40
  case priResp = 0x41
  case resume = 0x44
  case stallTerm = 0x45
  case sync = 0x46

  /// QEMU's name without its `SMMU_CMD_` prefix: `CFGI_STE_RANGE`, `SYNC`.
  public var description: String {
    switch self {
    case .prefetchConfig: "PREFETCH_CONFIG"
    case .prefetchAddr: "PREFETCH_ADDR"
    case .cfgiSTE: "CFGI_STE"
    case .cfgiSTERange: "CFGI_STE_RANGE"
    case .cfgiCD: "CFGI_CD"
    case .cfgiCDAll: "CFGI_CD_ALL"
    case .cfgiVMSPIDR: "CFGI_VMS_PIDM"
    case .tlbiNHAll: "TLBI_NH_ALL"
    case .tlbiNHASID: "TLBI_NH_ASID"
    case .tlbiNHVA: "TLBI_NH_VA"
    case .tlbiNHVAA: "TLBI_NH_VAA"
    case .tlbiEL3All: "TLBI_EL3_ALL"
    case .tlbiEL3VA: "TLBI_EL3_VA"
    case .tlbiEL2All: "TLBI_EL2_ALL"
    case .tlbiEL2ASID: "TLBI_EL2_ASID"
    case .tlbiEL2VA: "TLBI_EL2_VA"
    case .tlbiEL2VAA: "TLBI_EL2_VAA"
    case .tlbiS12VMAll: "TLBI_S12_VMALL"
    case .tlbiS2IPA: "TLBI_S2_IPA"
    case .tlbiNSNHAll: "TLBI_NSNH_ALL"
    case .atcInv: "ATC_INV"
    case .priResp: "PRI_RESP"
    case .resume: "RESUME"
    case .stallTerm: "STALL_TERM"
    case .sync: "SYNC"
    }
  }
}

/// One 16-byte command as the SMMU consumed it.
public struct SMMUv3Command: Sendable, Hashable, CustomStringConvertible {
  public var words: (UInt64, UInt64)
  /// Queue index (with wrap bit) it was read from.
  public var index: UInt32

  public var opcode: SMMUv3Opcode? { SMMUv3Opcode(rawValue: UInt8(truncatingIfNeeded: words.0)) }
  public var streamID: UInt32 { UInt32(truncatingIfNeeded: words.0 >> 32) }
  public var substreamID: UInt32 { UInt32(truncatingIfNeeded: words.0[bits: 12...31]) }
  public var asid: UInt16 { UInt16(truncatingIfNeeded: words.0 >> 48) }
  public var vmid: UInt16 { UInt16(truncatingIfNeeded: words.0 >> 32) }
  /// CFGI_STE_RANGE: the range is 2^(RANGE+1) stream IDs.
  public var range: UInt64 { words.1 & 0x1f }
  /// CMD_SYNC completion signal: 0 none, 1 IRQ (an MSI write when MSIADDR is set), 2 SEV.
  public var syncCS: UInt64 { words.0[bits: 12...13] }
  public var syncMSIData: UInt32 { UInt32(truncatingIfNeeded: words.0 >> 32) }
  public var syncMSIAddress: UInt64 { words.1 & UInt64.mask(2...51) }

  public var description: String { opcode.map(\.description) ?? "opcode \(hex(words.0 & 0xff))" }

  public static func == (a: Self, b: Self) -> Bool {
    a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.index == b.index
  }
  public func hash(into h: inout Hasher) {
    h.combine(words.0)
    h.combine(words.1)
    h.combine(index)
  }
}

/// CMDQ_CONS.ERR encodings.
enum CommandError: UInt32 {
  case none = 0
  case illegal = 1
  case abort = 2
}

extension SMMUv3 {
  /// QEMU's `smmuv3_cmdq_consume`: with CMDQEN applied and no CMDQ_ERR pending, consumes
  /// every command between CONS and PROD at once, advancing CONS; an illegal command stops
  /// the queue with CMDQ_CONS.ERR set and GERROR.CMDQ_ERR toggled.
  func consumeCommandQueue() {
    guard appliedCR0 & CR0Bits.CMDQEN != 0, activeGlobalErrors & GERRORBits.CMDQ_ERR == 0,
      !configuration.faults.contains(.commandQueueStuck)
    else { return }
    let base = reg64(SMMUv3Offset.CMDQ_BASE)
    let log2 = UInt32(base & 0x1f)
    let address = base & UInt64.mask(5...51)
    let wrapMask: UInt32 = (1 << (log2 + 1)) - 1
    let prod = reg32(SMMUv3Offset.CMDQ_PROD) & wrapMask
    var cons = reg32(SMMUv3Offset.CMDQ_CONS) & wrapMask
    while cons != prod {
      let slot = address + UInt64(cons & ((1 << log2) - 1)) * 16
      guard let w0 = try? memory.read64(slot), let w1 = try? memory.read64(slot + 8) else {
        return stopCommandQueue(at: cons, .abort)
      }
      let command = SMMUv3Command(words: (w0, w1), index: cons)
      guard execute(command) else { return stopCommandQueue(at: cons, .illegal) }
      consumedCommands.append(command)
      commandObserver?(command)
      cons = (cons + 1) & wrapMask
      set32(cons, SMMUv3Offset.CMDQ_CONS)
    }
  }

  private func stopCommandQueue(at cons: UInt32, _ error: CommandError) {
    set32(cons | error.rawValue << 24, SMMUv3Offset.CMDQ_CONS)
    set32(reg32(SMMUv3Offset.GERROR) ^ GERRORBits.CMDQ_ERR, SMMUv3Offset.GERROR)
  }

  /// Carries out one command; false when it is illegal.
  private func execute(_ c: SMMUv3Command) -> Bool {
    guard let opcode = c.opcode else { return false }
    switch opcode {
    case .prefetchConfig, .prefetchAddr, .atcInv, .priResp, .resume, .stallTerm, .cfgiVMSPIDR:
      break
    case .cfgiSTE:
      invalidateConfig(streamIDs: c.streamID...c.streamID)
    case .cfgiSTERange:
      let span = UInt64(1) << (c.range + 1)
      let first = UInt64(c.streamID) & ~(span - 1)
      let last = min(first + span - 1, UInt64(UInt32.max))
      invalidateConfig(streamIDs: UInt32(first)...UInt32(last))
    case .cfgiCD:
      cdCache[CDKey(streamID: c.streamID, substreamID: c.substreamID)] = nil
    case .cfgiCDAll:
      cdCache.removeAll { $0.key.streamID == c.streamID }
    case .tlbiNHAll, .tlbiNSNHAll, .tlbiEL2All, .tlbiEL3All:
      tlb.removeAll(keepingCapacity: true)
    case .tlbiNHASID, .tlbiEL2ASID:
      tlb.removeAll { $0.value.asid == c.asid }
    case .tlbiS12VMAll:
      tlb.removeAll { $0.value.vmid == c.vmid }
    case .tlbiNHVA, .tlbiNHVAA, .tlbiEL2VA, .tlbiEL2VAA, .tlbiEL3VA, .tlbiS2IPA:
      let page = c.words.1 & UInt64.mask(12...63)
      tlb.removeAll { $0.key.page == page }
    case .sync:
      completeSync(c)
    }
    return true
  }

  /// CMD_SYNC completion: commands before it are done (they were, synchronously); with CS=IRQ
  /// the SMMU writes MSIDATA to MSIADDR (Linux's MSI polling waits for that write), or raises
  /// its wired interrupt when no address is given.
  private func completeSync(_ c: SMMUv3Command) {
    guard c.syncCS == 1 else { return }
    if c.syncMSIAddress != 0 {
      try? memory.write32(c.syncMSIData, at: c.syncMSIAddress)
    } else {
      syncInterrupts += 1
    }
  }

  private func invalidateConfig(streamIDs: ClosedRange<UInt32>) {
    steCache.removeAll { streamIDs.contains($0.key) }
    cdCache.removeAll { streamIDs.contains($0.key.streamID) }
  }
}
