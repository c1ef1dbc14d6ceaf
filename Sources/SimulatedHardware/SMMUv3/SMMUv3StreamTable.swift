import MMIO
import Memory

/// A stream table entry as the SMMU decodes it (8 doublewords; the fields routing needs).
public struct StreamTableEntry: Sendable, Hashable {
  /// Inline (no array to allocate per fetch, or to retain per cached lookup).
  public var words: SIMD8<UInt64>

  /// STE.Config.
  public enum Config: UInt64, Sendable, Hashable {
    case abort = 0
    case bypass = 4
    case stage1 = 5
    case stage2 = 6
    case nested = 7
  }

  public var valid: Bool { words[0][bit: 0] }
  public var config: FieldValue<Config> { words[0].field(1...3) }
  public var s1ContextPointer: UInt64 { words[0] & UInt64.mask(6...51) }
  public var s1Format: UInt64 { words[0][bits: 4...5] }
  public var s1CDMax: UInt64 { words[0][bits: 59...63] }
  /// S1DSS: what a transaction without a substream ID does (0 terminate, 1 bypass, 2 SSID 0).
  public var s1DSS: UInt64 { words[1][bits: 0...1] }
  public var s2VMID: UInt16 { UInt16(truncatingIfNeeded: words[2]) }
  public var s2T0SZ: UInt64 { words[2][bits: 32...37] }
  public var s2SL0: UInt64 { words[2][bits: 38...39] }
  public var s2TG: UInt64 { words[2][bits: 46...47] }
  public var s2TTB: UInt64 { words[3] & UInt64.mask(4...51) }
}

/// A stage-1 context descriptor as the SMMU decodes it.
public struct ContextDescriptor: Sendable, Hashable {
  /// Inline (no array to allocate per fetch, or to retain per cached lookup).
  public var words: SIMD8<UInt64>
  public var t0sz: UInt64 { words[0][bits: 0...5] }
  public var tg0: UInt64 { words[0][bits: 6...7] }
  public var epd0: Bool { words[0][bit: 14] }
  public var valid: Bool { words[0][bit: 31] }
  public var asid: UInt16 { UInt16(truncatingIfNeeded: words[0] >> 48) }
  public var ttb0: UInt64 { words[1] & UInt64.mask(4...51) }
}

/// An event the SMMU records (and writes to the event queue when EVTQEN is applied).
public struct SMMUv3Event: Sendable, Hashable, CustomStringConvertible {
  public enum Kind: UInt8, Error, Sendable, Hashable {
    case badStreamID = 0x02
    case steFetch = 0x03
    case badSTE = 0x04
    case badSubstreamID = 0x08
    case cdFetch = 0x09
    case badCD = 0x0a
    case translation = 0x10
    case addressSize = 0x11
    case access = 0x12
    case permission = 0x13
  }
  public var kind: Kind
  public var streamID: UInt32
  public var address: UInt64
  public var isWrite: Bool

  /// The kernel's name for the event (`C_BAD_STE`, `F_TRANSLATION`).
  public var name: String {
    switch kind {
    case .badStreamID: "C_BAD_STREAMID"
    case .steFetch: "F_STE_FETCH"
    case .badSTE: "C_BAD_STE"
    case .badSubstreamID: "C_BAD_SUBSTREAMID"
    case .cdFetch: "F_CD_FETCH"
    case .badCD: "C_BAD_CD"
    case .translation: "F_TRANSLATION"
    case .addressSize: "F_ADDR_SIZE"
    case .access: "F_ACCESS"
    case .permission: "F_PERMISSION"
    }
  }
  public var description: String { "\(name) sid \(hex(streamID)) addr \(hex(address))" }
}

struct CDKey: Hashable {
  var streamID: UInt32
  var substreamID: UInt32
}

struct TLBKey: Hashable {
  var streamID: UInt32
  var page: UInt64
}

struct TLBEntry: Hashable {
  var physicalPage: UInt64
  var writable: Bool
  var asid: UInt16
  var vmid: UInt16
}

extension SMMUv3 {
  /// Routes through the stream table: abort and bypass STEs, stage 1 (a linear CD table,
  /// 4 KiB granule), stage 2 (4 KiB granule); nested runs stage 1 with its output put through
  /// stage 2, table walks unstranslated.
  func translate(streamID: UInt32, substreamID: UInt32?, address: UInt64, isWrite: Bool) -> DMARoute {
    let ste: StreamTableEntry
    switch fetchSTE(streamID) {
    case .success(let s): ste = s
    case .failure(let kind): return fault(kind, streamID, address, isWrite)
    }
    guard ste.valid, let config = ste.config.known else {
      return fault(.badSTE, streamID, address, isWrite)
    }
    switch config {
    case .abort: return .blocked(reason: describesBlockedRoutes ? "abort STE for stream \(hex(streamID))" : "")
    case .bypass: return .bypassed(physical: address)
    case .stage1, .nested:
      if ste.s1DSS == 1 && substreamID == nil { return .bypassed(physical: address) }
      if ste.s1DSS == 0 && substreamID == nil && ste.s1CDMax != 0 {
        return fault(.badSubstreamID, streamID, address, isWrite)
      }
      let cd: ContextDescriptor
      switch fetchCD(ste, streamID: streamID, substreamID: substreamID ?? 0) {
      case .success(let c): cd = c
      case .failure(let kind): return fault(kind, streamID, address, isWrite)
      }
      let key = TLBKey(streamID: streamID, page: address & ~0xfff)
      var output: UInt64
      if let hit = tlb[key], !isWrite || hit.writable {
        output = hit.physicalPage | (address & 0xfff)
      } else {
        guard cd.tg0 == 0, !cd.epd0 else { return fault(.translation, streamID, address, isWrite) }
        switch walk(
          ttb: cd.ttb0, inputBits: 64 - Int(cd.t0sz), startLevel: nil, address: address, isWrite: isWrite, stage2: false
        ) {
        case .success(let (pa, writable)):
          output = pa
          tlb[key] = TLBEntry(physicalPage: pa & ~0xfff, writable: writable, asid: cd.asid, vmid: ste.s2VMID)
        case .failure(let kind): return fault(kind, streamID, address, isWrite)
        }
      }
      if config == .nested {
        switch stage2(ste, output, isWrite) {
        case .success(let pa): output = pa
        case .failure(let kind): return fault(kind, streamID, address, isWrite)
        }
      }
      return .translated(physical: output)
    case .stage2:
      switch stage2(ste, address, isWrite) {
      case .success(let pa): return .translated(physical: pa)
      case .failure(let kind): return fault(kind, streamID, address, isWrite)
      }
    }
  }

  private func stage2(_ ste: StreamTableEntry, _ ipa: UInt64, _ isWrite: Bool) -> Result<UInt64, SMMUv3Event.Kind> {
    guard ste.s2TG == 0 else { return .failure(.translation) }
    // 4 KiB granule: SL0 0, 1, 2 start at levels 2, 1, 0.
    let start = 2 - Int(ste.s2SL0)
    return walk(
      ttb: ste.s2TTB, inputBits: 64 - Int(ste.s2T0SZ), startLevel: start, address: ipa, isWrite: isWrite, stage2: true
    )
    .map(\.0)
  }

  /// The STE for `sid`, from the configuration cache or the stream table in memory
  /// (STRTAB_BASE_CFG: linear, or 2-level with SPLIT and the L1 descriptor's SPAN).
  func fetchSTE(_ sid: UInt32) -> Result<StreamTableEntry, SMMUv3Event.Kind> {
    if let cached = steCache[sid] { return .success(cached) }
    let base = reg64(SMMUv3Offset.STRTAB_BASE) & UInt64.mask(6...51)
    let cfg = reg32(SMMUv3Offset.STRTAB_BASE_CFG)
    let log2size = cfg & 0x3f
    guard log2size >= 32 || UInt64(sid) < UInt64(1) << log2size else { return .failure(.badStreamID) }
    var address: UInt64
    if cfg[bits: 16...17] == 1 {
      let split = cfg[bits: 6...10]
      let l1 = base + UInt64(sid >> split) * 8
      guard let desc = try? memory.read64(l1) else { return .failure(.steFetch) }
      let span = desc & 0x1f
      let low = UInt64(sid) & ((1 << UInt64(split)) - 1)
      guard span != 0, low < UInt64(1) << (span - 1) else { return .failure(.badStreamID) }
      address = (desc & UInt64.mask(6...51)) + low * 64
    } else {
      address = base + UInt64(sid) * 64
    }
    var words = SIMD8<UInt64>()
    for i in 0..<8 {
      guard let w = try? memory.read64(address + UInt64(i) * 8) else { return .failure(.steFetch) }
      words[i] = w
    }
    let ste = StreamTableEntry(words: words)
    steCache[sid] = ste
    return .success(ste)
  }

  private func fetchCD(_ ste: StreamTableEntry, streamID: UInt32, substreamID: UInt32) -> Result<
    ContextDescriptor, SMMUv3Event.Kind
  > {
    let key = CDKey(streamID: streamID, substreamID: substreamID)
    if let cached = cdCache[key] { return .success(cached) }
    guard UInt64(substreamID) < UInt64(1) << ste.s1CDMax else { return .failure(.badSubstreamID) }
    guard ste.s1Format == 0 else { return .failure(.badCD) }  // 2-level CD tables: not modelled
    let address = ste.s1ContextPointer + UInt64(substreamID) * 64
    var words = SIMD8<UInt64>()
    for i in 0..<8 {
      guard let w = try? memory.read64(address + UInt64(i) * 8) else { return .failure(.cdFetch) }
      words[i] = w
    }
    let cd = ContextDescriptor(words: words)
    guard cd.valid else { return .failure(.badCD) }
    cdCache[key] = cd
    return .success(cd)
  }

  /// An AArch64 4 KiB-granule walk: table descriptors down to a block (levels 1, 2) or page
  /// (level 3); AP[2] (stage 1) or S2AP[1] (stage 2) refuses writes; AF=0 faults.
  private func walk(
    ttb: UInt64, inputBits: Int, startLevel: Int?, address: UInt64, isWrite: Bool, stage2: Bool
  ) -> Result<(UInt64, Bool), SMMUv3Event.Kind> {
    guard inputBits > 12, inputBits <= 52 else { return .failure(.translation) }
    guard inputBits == 64 || address >> UInt64(inputBits) == 0 else { return .failure(.addressSize) }
    var level = startLevel ?? (4 - (inputBits - 12 + 8) / 9)
    var table = ttb & ~0xfff
    while level <= 3 {
      let shift = UInt64(12 + 9 * (3 - level))
      let index = (address >> shift) & 0x1ff
      guard let desc = try? memory.read64(table + index * 8) else { return .failure(.translation) }
      guard desc & 1 != 0 else { return .failure(.translation) }
      let isTable = desc & 2 != 0 && level < 3
      if isTable {
        table = desc & UInt64.mask(12...47)
        level += 1
        continue
      }
      guard level >= 1, level == 3 ? desc & 2 != 0 : true else { return .failure(.translation) }
      guard desc[bit: 10] else { return .failure(.access) }
      let writable = stage2 ? desc[bit: 7] : !desc[bit: 7]
      if isWrite && !writable { return .failure(.permission) }
      let blockMask = (UInt64(1) << shift) - 1
      return .success(((desc & UInt64.mask(12...47) & ~blockMask) | (address & blockMask), writable))
    }
    return .failure(.translation)
  }

  /// Records an event (and writes it to the event queue when EVTQEN is applied and there is
  /// room), and blocks the transaction.
  private func fault(_ kind: SMMUv3Event.Kind, _ sid: UInt32, _ address: UInt64, _ isWrite: Bool) -> DMARoute {
    let event = SMMUv3Event(kind: kind, streamID: sid, address: address, isWrite: isWrite)
    events.append(event)
    writeEvent(event)
    return .blocked(reason: describesBlockedRoutes ? event.description : "")
  }

  private func writeEvent(_ e: SMMUv3Event) {
    guard appliedCR0 & CR0Bits.EVTQEN != 0 else { return }
    let base = reg64(SMMUv3Offset.EVTQ_BASE)
    let log2 = UInt32(base & 0x1f)
    let wrapMask: UInt32 = (1 << (log2 + 1)) - 1
    let prod = reg32(SMMUv3Offset.EVTQ_PROD) & wrapMask
    let cons = reg32(SMMUv3Offset.EVTQ_CONS) & wrapMask
    // Full: same index, different wrap bit.
    if prod ^ cons == 1 << log2 { return }
    let slot = (base & UInt64.mask(5...51)) + UInt64(prod & ((1 << log2) - 1)) * 32
    let w0 = UInt64(e.kind.rawValue) | UInt64(e.streamID) << 32
    let w1: UInt64 = e.isWrite ? 0 : 1 << 35
    for (i, w) in [w0, w1, e.address, 0].enumerated() {
      try? memory.write64(w, at: slot + UInt64(i) * 8)
    }
    set32((prod + 1) & wrapMask, SMMUv3Offset.EVTQ_PROD)
  }
}
