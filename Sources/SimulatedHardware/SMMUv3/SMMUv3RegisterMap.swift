import MMIO

/// Register offsets of the SMMUv3 programming interface (page 0; page 1 at +64 KiB aliases it
/// in QEMU), from the Arm SMMUv3 architecture.
public enum SMMUv3Offset {
  public static let IDR0 = 0x00
  public static let IDR1 = 0x04
  public static let IDR2 = 0x08
  public static let IDR3 = 0x0c
  public static let IDR4 = 0x10
  public static let IDR5 = 0x14
  public static let IIDR = 0x18
  public static let AIDR = 0x1c
  public static let CR0 = 0x20
  public static let CR0ACK = 0x24
  public static let CR1 = 0x28
  public static let CR2 = 0x2c
  public static let STATUSR = 0x40
  public static let GBPA = 0x44
  public static let AGBPA = 0x48
  public static let IRQ_CTRL = 0x50
  public static let IRQ_CTRLACK = 0x54
  public static let GERROR = 0x60
  public static let GERRORN = 0x64
  public static let GERROR_IRQ_CFG0 = 0x68
  public static let GERROR_IRQ_CFG1 = 0x70
  public static let GERROR_IRQ_CFG2 = 0x74
  public static let STRTAB_BASE = 0x80
  public static let STRTAB_BASE_CFG = 0x88
  public static let CMDQ_BASE = 0x90
  public static let CMDQ_PROD = 0x98
  public static let CMDQ_CONS = 0x9c
  public static let EVTQ_BASE = 0xa0
  public static let EVTQ_PROD = 0xa8
  public static let EVTQ_CONS = 0xac
  public static let EVTQ_IRQ_CFG0 = 0xb0
  public static let EVTQ_IRQ_CFG1 = 0xb8
  public static let EVTQ_IRQ_CFG2 = 0xbc
  public static let PRIQ_BASE = 0xc0
  public static let PRIQ_PROD = 0xc8
  public static let PRIQ_CONS = 0xcc
  public static let PRIQ_IRQ_CFG0 = 0xd0
  public static let PRIQ_IRQ_CFG1 = 0xd8
  public static let PRIQ_IRQ_CFG2 = 0xdc
  /// Page 1 starts here; QEMU makes it an exact alias of page 0.
  public static let page1 = 0x10000
  /// The whole MMIO region (two 64 KiB pages).
  public static let regionSize = 0x20000
}

extension SMMUv3 {
  /// The page-0 register definitions with QEMU 10's reset values and masks.
  static func page0Definitions(_ c: SMMUv3Configuration) -> [SimulatedRegisterFile.Definition] {
    typealias D = SimulatedRegisterFile.Definition
    let ro32: UInt64 = 0xffff_ffff
    // Queue bases: RA/RWA b62, ADDR [51:5], LOG2SIZE [4:0]; the rest is RES0.
    let queueBaseRO: UInt64 = ~(UInt64(1) << 62 | UInt64.mask(5...51) | 0x1f)
    var defs: [D] = [
      D("IDR0", offset: SMMUv3Offset.IDR0, width: .dword, reset: UInt64(c.idr0), readOnly: ro32),
      D("IDR1", offset: SMMUv3Offset.IDR1, width: .dword, reset: UInt64(c.idr1), readOnly: ro32),
      D("IDR2", offset: SMMUv3Offset.IDR2, width: .dword, reset: UInt64(c.idr2), readOnly: ro32),
      D("IDR3", offset: SMMUv3Offset.IDR3, width: .dword, reset: UInt64(c.idr3), readOnly: ro32),
      D("IDR4", offset: SMMUv3Offset.IDR4, width: .dword, reset: UInt64(c.idr4), readOnly: ro32),
      D("IDR5", offset: SMMUv3Offset.IDR5, width: .dword, reset: UInt64(c.idr5), readOnly: ro32),
      D("IIDR", offset: SMMUv3Offset.IIDR, width: .dword, reset: UInt64(c.iidr), readOnly: ro32),
      D("AIDR", offset: SMMUv3Offset.AIDR, width: .dword, reset: UInt64(c.aidr), readOnly: ro32),
      // CR0 reserved bits (QEMU's mask 0xFFFFFC20) read as zero.
      D("CR0", offset: SMMUv3Offset.CR0, width: .dword, readOnly: 0xffff_fc20),
      D("CR0ACK", offset: SMMUv3Offset.CR0ACK, width: .dword, readOnly: ro32),
      D("CR1", offset: SMMUv3Offset.CR1, width: .dword, readOnly: 0xffff_f000),
      D("CR2", offset: SMMUv3Offset.CR2, width: .dword, readOnly: 0xffff_fff8),
      D("STATUSR", offset: SMMUv3Offset.STATUSR, width: .dword, readOnly: ro32),
      // GBPA: SHCFG = incoming after reset, ABORT clear (bypass while SMMUEN=0).
      D("GBPA", offset: SMMUv3Offset.GBPA, width: .dword, reset: 0x1000),
      D("AGBPA", offset: SMMUv3Offset.AGBPA, width: .dword, readOnly: ro32),
      D("IRQ_CTRL", offset: SMMUv3Offset.IRQ_CTRL, width: .dword, readOnly: 0xffff_fff8),
      D("IRQ_CTRLACK", offset: SMMUv3Offset.IRQ_CTRLACK, width: .dword, readOnly: ro32),
      D("GERROR", offset: SMMUv3Offset.GERROR, width: .dword, readOnly: ro32),
      D("GERRORN", offset: SMMUv3Offset.GERRORN, width: .dword, readOnly: ~UInt64(0x1fd)),
      D("GERROR_IRQ_CFG0", offset: SMMUv3Offset.GERROR_IRQ_CFG0, width: .qword),
      D("GERROR_IRQ_CFG1", offset: SMMUv3Offset.GERROR_IRQ_CFG1, width: .dword),
      D("GERROR_IRQ_CFG2", offset: SMMUv3Offset.GERROR_IRQ_CFG2, width: .dword),
      D(
        "STRTAB_BASE", offset: SMMUv3Offset.STRTAB_BASE, width: .qword,
        readOnly: ~(UInt64(1) << 62 | UInt64.mask(6...51))),
      D(
        "STRTAB_BASE_CFG", offset: SMMUv3Offset.STRTAB_BASE_CFG, width: .dword,
        readOnly: ~(UInt64.mask(16...17) | UInt64.mask(6...10) | UInt64.mask(0...5))),
      D(
        "CMDQ_BASE", offset: SMMUv3Offset.CMDQ_BASE, width: .qword, reset: UInt64(c.idr1 >> 21 & 0x1f),
        readOnly: queueBaseRO),
      D("CMDQ_PROD", offset: SMMUv3Offset.CMDQ_PROD, width: .dword),
      D("CMDQ_CONS", offset: SMMUv3Offset.CMDQ_CONS, width: .dword),
      D(
        "EVTQ_BASE", offset: SMMUv3Offset.EVTQ_BASE, width: .qword, reset: UInt64(c.idr1 >> 16 & 0x1f),
        readOnly: queueBaseRO),
      D("EVTQ_PROD", offset: SMMUv3Offset.EVTQ_PROD, width: .dword),
      D("EVTQ_CONS", offset: SMMUv3Offset.EVTQ_CONS, width: .dword),
      D("EVTQ_IRQ_CFG0", offset: SMMUv3Offset.EVTQ_IRQ_CFG0, width: .qword),
      D("EVTQ_IRQ_CFG1", offset: SMMUv3Offset.EVTQ_IRQ_CFG1, width: .dword),
      D("EVTQ_IRQ_CFG2", offset: SMMUv3Offset.EVTQ_IRQ_CFG2, width: .dword),
      D("PRIQ_BASE", offset: SMMUv3Offset.PRIQ_BASE, width: .qword, readOnly: queueBaseRO),
      D("PRIQ_PROD", offset: SMMUv3Offset.PRIQ_PROD, width: .dword),
      D("PRIQ_CONS", offset: SMMUv3Offset.PRIQ_CONS, width: .dword),
      D("PRIQ_IRQ_CFG0", offset: SMMUv3Offset.PRIQ_IRQ_CFG0, width: .qword),
      D("PRIQ_IRQ_CFG1", offset: SMMUv3Offset.PRIQ_IRQ_CFG1, width: .dword),
      D("PRIQ_IRQ_CFG2", offset: SMMUv3Offset.PRIQ_IRQ_CFG2, width: .dword),
    ]
    // Peripheral and component ID registers (QEMU reports an Arm MMU-600 identity).
    let ids: [(String, UInt64)] = [
      ("PIDR4", 0x04), ("PIDR5", 0), ("PIDR6", 0), ("PIDR7", 0), ("PIDR0", 0x84), ("PIDR1", 0xb4),
      ("PIDR2", 0xf0), ("PIDR3", 0x10), ("CIDR0", 0x0d), ("CIDR1", 0xf0), ("CIDR2", 0x05),
      ("CIDR3", 0xb1),
    ]
    for (i, (name, value)) in ids.enumerated() {
      defs.append(D(name, offset: 0xfd0 + 4 * i, width: .dword, reset: value, readOnly: ro32))
    }
    return defs
  }
}
