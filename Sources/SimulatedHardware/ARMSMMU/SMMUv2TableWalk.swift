import MMIO
import Memory

/// Why a context bank could not translate an address.
struct WalkFault: Error {
  /// The CB_FSR bit it latches (TF, PF, EF).
  var fsrBit: UInt32
  /// The lookup level it happened at.
  var level: Int
  var reason: String

  static func translation(_ level: Int, _ why: String) -> WalkFault {
    WalkFault(fsrBit: SMMUv2Bits.fsrTF, level: level, reason: "translation fault: \(why)")
  }
}

extension ARMSMMUv2 {
  /// The VMSAv8-64 table walk of one context bank with the 4 KiB granule: stage 1
  /// (CBAR.TYPE 1 or 2: TTBR0 with TCR.T0SZ) or stage 2 (CBAR.TYPE 0: TTBR0 as VTTBR with
  /// VTCR.T0SZ/SL0). Table, block (1 GiB, 2 MiB) and page descriptors; write permission
  /// (stage 1 AP[2], stage 2 S2AP[1]). Not modelled, each reported as a translation fault
  /// that says so: nested translation (CBAR.TYPE 3), AArch32 formats (CBA2R.VA64 clear), the
  /// 16 KiB and 64 KiB granules, TTBR1, the access flag, TLBs (the walk reads memory every time).
  func walk(contextBank n: Int, address: UInt64, isWrite: Bool) -> Result<UInt64, WalkFault> {
    let c = configuration
    let cb = c.contextBankOffset(n)
    let cbar = peek32(c.gr1Offset + SMMUv2Offsets.cbar(n))
    let cba2r = peek32(c.gr1Offset + SMMUv2Offsets.cba2r(n))
    let type = cbar[bits: 16...17]
    guard type != 3 else { return .failure(.translation(0, "nested translation not modelled")) }
    guard c.configurationIsV2 == false || cba2r & 1 == 1 else {
      return .failure(.translation(0, "AArch32 translation formats not modelled"))
    }
    guard let walkMemory else { return .failure(.translation(0, "no memory attached to the model")) }
    let stage2 = type == 0
    let tcr = peek32(cb + SMMUv2Offsets.cbTCR)
    guard tcr[bits: 14...15] == 0 else {
      return .failure(.translation(0, "16 KiB and 64 KiB granules not modelled"))
    }
    let t0sz = Int(tcr[bits: 0...5])
    let inputBits = 64 - t0sz
    guard t0sz >= 16, t0sz <= 39 else {
      return .failure(.translation(0, "T0SZ \(t0sz) out of range"))
    }
    guard address >> UInt64(inputBits) == 0 else {
      return .failure(.translation(0, "address \(hex(address)) beyond \(inputBits)-bit input"))
    }
    if !stage2 && tcr & (1 << 7) != 0 {
      return .failure(.translation(0, "TTBR0 walks disabled (TCR.EPD0)"))
    }
    var level: Int
    if stage2 {
      // VTCR.SL0 with the 4 KiB granule: 0 starts at level 2, 1 at level 1, 2 at level 0.
      level = 2 - Int(tcr[bits: 6...7])
    } else {
      level = 4 - (inputBits - 12 + 8) / 9
    }
    let oaMask: UInt64 = 0x0000_ffff_ffff_f000
    var table = registers.peek(.qword, at: cb + SMMUv2Offsets.cbTTBR0) & oaMask
    while true {
      let shift = 12 + 9 * (3 - level)
      let index = (address >> UInt64(shift)) & 0x1ff
      let descriptorAddress = table + index * 8
      let descriptor: UInt64
      do {
        descriptor = try walkMemory._withUnsafeGuaranteedRef { try $0.read64(descriptorAddress) }
      } catch {
        return .failure(
          WalkFault(
            fsrBit: 1 << 4, level: level,
            reason: "external fault reading descriptor at \(hex(descriptorAddress))"))
      }
      guard descriptor & 1 == 1 else {
        return .failure(.translation(level, "invalid descriptor at level \(level)"))
      }
      let isTable = descriptor & 2 != 0 && level < 3
      if isTable {
        table = descriptor & oaMask
        level += 1
        continue
      }
      guard level == 3 ? descriptor & 2 != 0 : level >= 1 else {
        return .failure(.translation(level, "reserved descriptor at level \(level)"))
      }
      let writable = stage2 ? descriptor & (1 << 7) != 0 : descriptor & (1 << 7) == 0
      if isWrite && !writable {
        return .failure(
          WalkFault(fsrBit: SMMUv2Bits.fsrPF, level: level, reason: "permission fault (read-only)"))
      }
      let offsetMask: UInt64 = (1 << UInt64(shift)) - 1
      return .success((descriptor & oaMask & ~offsetMask) | (address & offsetMask))
    }
  }
}

extension SMMUv2Configuration {
  /// SMMUv2 has CBA2R (and VA64); SMMUv1 banks are AArch32 only. The model tells them apart
  /// by ID7's major revision or ID2's AArch64 granule bits: any PTFS bit set means v2.
  var configurationIsV2: Bool { id2[bits: 12...14] != 0 }
}
