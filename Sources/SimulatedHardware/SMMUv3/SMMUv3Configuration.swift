import MMIO

/// What an SMMUv3 implementation advertises and how it misbehaves: the ID registers (QEMU 10's
/// `-M virt,iommu=smmuv3` values by default, as the real Linux 7.2 trace read them) and the
/// fault modes tests use to describe broken silicon.
public struct SMMUv3Configuration: Sendable, Hashable {
  /// IDR0: ST_LVL=2-level, STALL_MODEL=1, TERM_MODEL, TTENDIAN=LE, VMID16, ASID16, COHACC,
  /// TTF=AArch64, S1P and S2P (QEMU 10's virt board selects nested support).
  public var idr0: UInt32 = 0x0D44_101B
  /// IDR1: CMDQS=19, EVENTQS=19, SIDSIZE=16.
  public var idr1: UInt32 = 0x0273_0010
  public var idr2: UInt32 = 0
  /// IDR3: BBML=2, RIL, XNX, HAD.
  public var idr3: UInt32 = 0x0000_1414
  public var idr4: UInt32 = 0
  /// IDR5: OAS=44-bit, GRAN64K, GRAN16K, GRAN4K.
  public var idr5: UInt32 = 0x0000_0074
  public var iidr: UInt32 = 0
  /// AIDR: SMMUv3.1.
  public var aidr: UInt32 = 0x1
  /// Fault injection.
  public var faults: SMMUv3Faults = []

  public init() {}

  /// The implementation QEMU 10 builds for `-M virt,iommu=smmuv3` (its defaults).
  public static let qemu10 = SMMUv3Configuration()
}

/// Ways an SMMUv3 can fail to respond, as tests inject them.
public struct SMMUv3Faults: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// CR0ACK never follows CR0: every `arm_smmu_write_reg_sync()` on CR0 times out.
  public static let cr0AckStuck = SMMUv3Faults(rawValue: 1 << 0)
  /// GBPA.UPDATE never clears once written: `arm_smmu_update_gbpa()` times out.
  public static let gbpaUpdateStuck = SMMUv3Faults(rawValue: 1 << 1)
  /// IRQ_CTRLACK never follows IRQ_CTRL.
  public static let irqAckStuck = SMMUv3Faults(rawValue: 1 << 2)
  /// The command queue is never consumed: CMDQ_CONS stays where it was.
  public static let commandQueueStuck = SMMUv3Faults(rawValue: 1 << 3)
}
