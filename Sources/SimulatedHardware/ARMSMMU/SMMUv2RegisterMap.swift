import MMIO

/// Offsets of the SMMUv2 architecture's registers (ARM IHI 0062), as the silicon lays them out:
/// global register space 0 in page 0, global register space 1 in page 1, context banks from
/// page NUMPAGE on.
public enum SMMUv2Offsets {
  // Global register space 0.
  public static let sCR0 = 0x000
  public static let sCR1 = 0x004
  public static let sACR = 0x010
  public static let id0 = 0x020
  public static let id1 = 0x024
  public static let id2 = 0x028
  public static let id7 = 0x03c
  public static let sGFAR = 0x040
  public static let sGFSR = 0x048
  public static let sGFSYNR0 = 0x050
  public static let sGFSYNR1 = 0x054
  public static let sGFSYNR2 = 0x058
  public static let tlbiVMID = 0x064
  public static let tlbiAllNSNH = 0x068
  public static let tlbiAllH = 0x06c
  public static let sTLBGSYNC = 0x070
  public static let sTLBGSTATUS = 0x074
  public static func smr(_ n: Int) -> Int { 0x800 + 4 * n }
  public static func s2cr(_ n: Int) -> Int { 0xc00 + 4 * n }
  // Global register space 1, relative to its page.
  public static func cbar(_ n: Int) -> Int { 0x000 + 4 * n }
  public static func cbfrsynra(_ n: Int) -> Int { 0x400 + 4 * n }
  public static func cba2r(_ n: Int) -> Int { 0x800 + 4 * n }
  // Context bank, relative to its page.
  public static let cbSCTLR = 0x00
  public static let cbACTLR = 0x04
  public static let cbRESUME = 0x08
  public static let cbTCR2 = 0x10
  public static let cbTTBR0 = 0x20
  public static let cbTTBR1 = 0x28
  public static let cbTCR = 0x30
  public static let cbCONTEXTIDR = 0x34
  public static let cbMAIR0 = 0x38
  public static let cbMAIR1 = 0x3c
  public static let cbPAR = 0x50
  public static let cbFSR = 0x58
  public static let cbFAR = 0x60
  public static let cbFSYNR0 = 0x68
  public static let cbFSYNR1 = 0x6c
  public static let cbTLBIVA = 0x600
  public static let cbTLBIASID = 0x610
  public static let cbTLBIVAL = 0x620
  public static let cbTLBIIPAS2 = 0x630
  public static let cbTLBIIPAS2L = 0x638
  public static let cbTLBSYNC = 0x7f0
  public static let cbTLBSTATUS = 0x7f4
}

/// Bits the silicon acts on.
public enum SMMUv2Bits {
  public static let sCR0CLIENTPD: UInt32 = 1 << 0
  public static let sCR0GFRE: UInt32 = 1 << 1
  public static let sCR0GFIE: UInt32 = 1 << 2
  public static let sCR0EXIDENABLE: UInt32 = 1 << 3
  public static let sCR0GCFGFRE: UInt32 = 1 << 4
  public static let sCR0GCFGFIE: UInt32 = 1 << 5
  public static let sCR0USFCFG: UInt32 = 1 << 10
  public static let sCR0VMIDPNE: UInt32 = 1 << 11
  public static let sCR0PTM: UInt32 = 1 << 12
  public static let sCR0FB: UInt32 = 1 << 13
  public static let sCR0VMID16EN: UInt32 = 1 << 31
  /// sGFSR: unidentified stream fault, stream match conflict fault, invalid context fault.
  public static let sGFSRUSF: UInt32 = 1 << 1
  public static let sGFSRSMCF: UInt32 = 1 << 2
  public static let sGFSRUCBF: UInt32 = 1 << 3
  public static let sGFSRMULTI: UInt32 = 1 << 31
  /// sGFSYNR0.WNR: the faulting access was a write.
  public static let sGFSYNR0WNR: UInt32 = 1 << 1
  public static let sTLBGSTATUSGSACTIVE: UInt32 = 1 << 0
  public static let smrValid: UInt32 = 1 << 31
  public static let s2crEXIDVALID: UInt32 = 1 << 10
  public static let sctlrM: UInt32 = 1 << 0
  public static let fsrTF: UInt32 = 1 << 1
  public static let fsrPF: UInt32 = 1 << 3
  public static let fsrMULTI: UInt32 = 1 << 31
  /// Every fault bit of CB_FSR (ARM_SMMU_CB_FSR_FAULT): all write-1-to-clear.
  public static let fsrAllFaults: UInt32 = 0xc000_01fe
  /// MMU-500 sACR.CACHE_LOCK: while set, context bank ACTLR writes are ignored.
  public static let acrCacheLock: UInt32 = 1 << 26
}

/// Named fields of sCR0, for decoding (`iommu-model` prints them).
public let sCR0Fields: [RegisterField] = [
  .init("CLIENTPD", bit: 0), .init("GFRE", bit: 1), .init("GFIE", bit: 2),
  .init("EXIDENABLE", bit: 3), .init("GCFGFRE", bit: 4), .init("GCFGFIE", bit: 5),
  .init("TRANSIENTCFG", 6...7), .init("STALLD", bit: 8), .init("GSE", bit: 9),
  .init("USFCFG", bit: 10), .init("VMIDPNE", bit: 11), .init("PTM", bit: 12),
  .init("FB", bit: 13), .init("BSU", 14...15), .init("MEMATTR", 16...19),
  .init("MTCFG", bit: 20), .init("SMCFCFG", bit: 21), .init("SHCFG", 22...23),
  .init("RACFG", 24...25), .init("WACFG", 26...27), .init("NSCFG", 28...29),
  .init("VMID16EN", bit: 31),
]

extension SMMUv2Configuration {
  /// The register file's definitions: every register the driver or the router touches.
  func registerDefinitions() -> [SimulatedRegisterFile.Definition] {
    typealias D = SimulatedRegisterFile.Definition
    typealias O = SMMUv2Offsets
    let ro: UInt64 = 0xffff_ffff
    var defs: [D] = [
      // CLIENTPD resets to 1: out of reset every transaction bypasses.
      D("sCR0", offset: O.sCR0, width: .dword, reset: 0x1),
      D("sCR1", offset: O.sCR1, width: .dword),
      D("sACR", offset: O.sACR, width: .dword, reset: UInt64(sACRReset)),
      D("ID0", offset: O.id0, width: .dword, reset: UInt64(id0), readOnly: ro),
      D("ID1", offset: O.id1, width: .dword, reset: UInt64(id1), readOnly: ro),
      D("ID2", offset: O.id2, width: .dword, reset: UInt64(id2), readOnly: ro),
      D("ID3", offset: 0x2c, width: .dword, readOnly: ro),
      D("ID4", offset: 0x30, width: .dword, readOnly: ro),
      D("ID5", offset: 0x34, width: .dword, readOnly: ro),
      D("ID6", offset: 0x38, width: .dword, readOnly: ro),
      D("ID7", offset: O.id7, width: .dword, reset: UInt64(id7), readOnly: ro),
      D("sGFAR", offset: O.sGFAR, width: .qword, readOnly: ~0),
      D("sGFSR", offset: O.sGFSR, width: .dword, writeOneToClear: ro),
      D("sGFSYNR0", offset: O.sGFSYNR0, width: .dword, writeOneToClear: ro),
      D("sGFSYNR1", offset: O.sGFSYNR1, width: .dword, writeOneToClear: ro),
      D("sGFSYNR2", offset: O.sGFSYNR2, width: .dword, writeOneToClear: ro),
      D("TLBIVMID", offset: O.tlbiVMID, width: .dword, writeOnly: true),
      D("TLBIALLNSNH", offset: O.tlbiAllNSNH, width: .dword, writeOnly: true),
      D("TLBIALLH", offset: O.tlbiAllH, width: .dword, writeOnly: true),
      D("sTLBGSYNC", offset: O.sTLBGSYNC, width: .dword, writeOnly: true),
      D("sTLBGSTATUS", offset: O.sTLBGSTATUS, width: .dword, readOnly: ro),
    ]
    for n in 0..<min(numSMRGroups, 256) where streamMatching {
      defs.append(D("SMR\(n)", offset: O.smr(n), width: .dword))
    }
    for n in 0..<numS2CRs {
      defs.append(D("S2CR\(n)", offset: O.s2cr(n), width: .dword, reset: UInt64(s2crReset)))
    }
    let gr1 = gr1Offset
    for n in 0..<numContextBanks {
      defs.append(D("CBAR\(n)", offset: gr1 + O.cbar(n), width: .dword))
      defs.append(D("CBFRSYNRA\(n)", offset: gr1 + O.cbfrsynra(n), width: .dword, readOnly: ro))
      defs.append(D("CBA2R\(n)", offset: gr1 + O.cba2r(n), width: .dword))
    }
    for n in 0..<numContextBanks {
      let cb = contextBankOffset(n)
      let p = "CB\(n)_"
      defs += [
        D(p + "SCTLR", offset: cb + O.cbSCTLR, width: .dword),
        D(p + "ACTLR", offset: cb + O.cbACTLR, width: .dword, reset: UInt64(actlrReset)),
        D(p + "RESUME", offset: cb + O.cbRESUME, width: .dword, writeOnly: true),
        D(p + "TCR2", offset: cb + O.cbTCR2, width: .dword),
        D(p + "TTBR0", offset: cb + O.cbTTBR0, width: .qword),
        D(p + "TTBR1", offset: cb + O.cbTTBR1, width: .qword),
        D(p + "TCR", offset: cb + O.cbTCR, width: .dword),
        D(p + "CONTEXTIDR", offset: cb + O.cbCONTEXTIDR, width: .dword),
        D(p + "MAIR0", offset: cb + O.cbMAIR0, width: .dword),
        D(p + "MAIR1", offset: cb + O.cbMAIR1, width: .dword),
        D(p + "PAR", offset: cb + O.cbPAR, width: .qword, readOnly: ~0),
        D(p + "FSR", offset: cb + O.cbFSR, width: .dword, writeOneToClear: ro),
        D(p + "FAR", offset: cb + O.cbFAR, width: .qword),
        D(p + "FSYNR0", offset: cb + O.cbFSYNR0, width: .dword),
        D(p + "FSYNR1", offset: cb + O.cbFSYNR1, width: .dword),
        D(p + "TLBIVA", offset: cb + O.cbTLBIVA, width: .qword, writeOnly: true),
        D(p + "TLBIASID", offset: cb + O.cbTLBIASID, width: .dword, writeOnly: true),
        D(p + "TLBIVAL", offset: cb + O.cbTLBIVAL, width: .qword, writeOnly: true),
        D(p + "TLBIIPAS2", offset: cb + O.cbTLBIIPAS2, width: .qword, writeOnly: true),
        D(p + "TLBIIPAS2L", offset: cb + O.cbTLBIIPAS2L, width: .qword, writeOnly: true),
        D(p + "TLBSYNC", offset: cb + O.cbTLBSYNC, width: .dword, writeOnly: true),
        D(p + "TLBSTATUS", offset: cb + O.cbTLBSTATUS, width: .dword, readOnly: ro),
      ]
    }
    return defs
  }
}
