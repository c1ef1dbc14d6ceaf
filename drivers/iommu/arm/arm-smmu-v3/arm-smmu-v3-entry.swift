import Kernel
import MMIO

/// `__le64 data[8]`: the eight doublewords of an STE or CD, held inline. Arrays cost an
/// allocation for each entry built, each `used()` mask and each read-back in
/// arm_smmu_write_entry(), several per STE or CD write.
typealias EntryWords = SIMD8<UInt64>

/// Stream table entry fields and constructors (`STRTAB_STE_*`, arm_smmu_make_*_ste()).
enum STE {
  static let V: UInt64 = 1 << 0
  static let CFG = 1...3
  static let CFG_ABORT: UInt64 = 0
  static let CFG_BYPASS: UInt64 = 4
  static let CFG_S1_TRANS: UInt64 = 5
  static let CFG_S2_TRANS: UInt64 = 6
  static let S1FMT = 4...5
  static let S1CTXPTR_MASK = UInt64.mask(6...51)
  static let S1CDMAX = 59...63
  static let S1DSS = 0...1
  static let S1DSS_BYPASS: UInt64 = 1
  static let S1DSS_SSID0: UInt64 = 2
  static let S1CIR = 2...3
  static let S1COR = 4...5
  static let S1CSH = 6...7
  static let S1C_CACHE_WBRA: UInt64 = 1
  static let S1STALLD: UInt64 = 1 << 27
  static let EATS = 28...29
  static let STRW = 30...31
  static let MEV: UInt64 = 1 << 19
  static let S2FWB: UInt64 = 1 << 25
  static let SHCFG = 44...45
  static let SHCFG_INCOMING: UInt64 = 1
  static let S2VMID = 0...15
  static let VTCR = 32...50
  static let S2AA64: UInt64 = 1 << 51
  static let S2ENDI: UInt64 = 1 << 52
  static let S2PTW: UInt64 = 1 << 54
  static let S2S: UInt64 = 1 << 57
  static let S2R: UInt64 = 1 << 58
  static let S2TTB_MASK = UInt64.mask(4...51)

  /// Mirrors arm_smmu_make_abort_ste(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  static var abort: EntryWords {
    var e = EntryWords()
    e[0] = V
    e[0][bits: CFG] = CFG_ABORT
    return e
  }

  /// Mirrors arm_smmu_make_bypass_ste(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  static var bypass: EntryWords {
    var e = EntryWords()
    e[0] = V
    e[0][bits: CFG] = CFG_BYPASS
    e[1][bits: SHCFG] = SHCFG_INCOMING
    return e
  }

  /// Mirrors arm_smmu_get_ste_used(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// the bits the SMMU reads in the entry's current configuration.
  static func used(_ ent: EntryWords) -> EntryWords {
    var used = EntryWords()
    used[0] = V
    guard ent[0] & V != 0 else { return used }
    used[0] |= UInt64.mask(CFG)
    let cfg = ent[0][bits: CFG]
    if cfg & 1 != 0 {
      used[0] |= UInt64.mask(S1FMT) | S1CTXPTR_MASK | UInt64.mask(S1CDMAX)
      used[1] |=
        UInt64.mask(S1DSS) | UInt64.mask(S1CIR) | UInt64.mask(S1COR) | UInt64.mask(S1CSH)
        | S1STALLD | UInt64.mask(STRW) | UInt64.mask(EATS) | MEV
      used[2] |= UInt64.mask(S2VMID)
      if ent[1][bits: S1DSS] == S1DSS_BYPASS { used[1] |= UInt64.mask(SHCFG) }
    }
    if cfg & 2 != 0 {
      used[1] |= S2FWB | UInt64.mask(EATS) | UInt64.mask(SHCFG) | MEV
      used[2] |=
        UInt64.mask(S2VMID) | UInt64.mask(VTCR) | S2AA64 | S2ENDI | S2PTW | S2S | S2R
      used[3] |= S2TTB_MASK
    }
    if cfg == CFG_BYPASS { used[1] |= UInt64.mask(SHCFG) }
    return used
  }
}

/// Context descriptor fields (`CTXDESC_CD_*`).
enum CD {
  static let T0SZ = 0...5
  static let TG0 = 6...7
  static let IRGN0 = 8...9
  static let ORGN0 = 10...11
  static let SH0 = 12...13
  static let EPD0: UInt64 = 1 << 14
  static let EPD1: UInt64 = 1 << 30
  static let V: UInt64 = 1 << 31
  static let IPS = 32...34
  static let AA64: UInt64 = 1 << 41
  static let R: UInt64 = 1 << 45
  static let A: UInt64 = 1 << 46
  static let ASET: UInt64 = 1 << 47
  static let ASID = 48...63
  static let TTB0_MASK = UInt64.mask(4...51)

  /// Mirrors arm_smmu_get_cd_used(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  static func used(_ ent: EntryWords) -> EntryWords {
    var used = EntryWords()
    used[0] = V
    guard ent[0] & V != 0 else { return used }
    used = EntryWords(repeating: ~0)
    if ent[0] & EPD0 != 0 {
      // EPD0 means T0SZ/TG0/IR0/OR0/SH0/TTB0 are ignored.
      used[0] &= ~(UInt64.mask(T0SZ) | UInt64.mask(TG0) | UInt64.mask(IRGN0) | UInt64.mask(ORGN0) | UInt64.mask(SH0))
      used[1] &= ~TTB0_MASK
    }
    return used
  }
}

extension ARMSMMUv3Device {
  /// Mirrors arm_smmu_write_entry(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// updates a live STE or CD in memory so the SMMU never sees a torn mix, syncing after each
  /// step that changed something: hitlessly when only one qword's used bits change, else by
  /// clearing V first.
  func writeEntry(
    at address: UInt64, target: EntryWords, used: (EntryWords) -> EntryWords, vBit: UInt64,
    sync: () throws(Errno) -> Void
  ) throws(Errno) {
    var entry = EntryWords()
    for i in 0..<8 { entry[i] = try read64(address + UInt64(i) * 8) }
    let curUsed = used(entry)
    let targetUsed = used(target)
    var unusedUpdate = EntryWords()
    var diff = 0
    for i in 0..<8 {
      unusedUpdate[i] = (entry[i] & curUsed[i]) | (target[i] & ~curUsed[i])
      if unusedUpdate[i] & targetUsed[i] != target[i] { diff |= 1 << i }
    }
    func set(_ values: EntryWords, _ range: Range<Int>) throws(Errno) {
      var changed = false
      for i in range where entry[i] != values[i] {
        entry[i] = values[i]
        try write64(values[i], at: address + UInt64(i) * 8)
        changed = true
      }
      if changed { try sync() }
    }
    if diff.nonzeroBitCount == 1 {
      let critical = diff.trailingZeroBitCount
      unusedUpdate[critical] = entry[critical]
      try set(unusedUpdate, 0..<8)
      try set(target, critical..<(critical + 1))
      try set(target, 0..<8)
    } else if diff != 0 {
      unusedUpdate[0] = entry[0] & ~vBit
      try set(unusedUpdate, 0..<1)
      try set(target, 1..<8)
      try set(target, 0..<1)
    } else {
      try set(target, 0..<8)
    }
  }

  /// Mirrors arm_smmu_write_ste(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// each step synced by CFGI_STE + CMD_SYNC, then a PREFETCH_CONFIG for the new entry.
  func writeSTE(sid: UInt32, target: EntryWords) throws(Errno) {
    guard let address = steAddress(sid: sid) else { throw .EINVAL }
    try writeEntry(at: address, target: target, used: STE.used, vBit: STE.V) { () throws(Errno) in
      try cmdqIssueCmdWithSync(.cfgiSTE(sid: sid, leaf: true))
    }
    // It's likely that the new STE is used soon.
    if !options.contains(.skipPrefetch) { try cmdqIssueCmd(.prefetchConfig(sid: sid)) }
  }
}
