/// What one RISC-V IOMMU implementation offers: the CAPABILITIES value and the WARL choices the
/// specification leaves to the implementer. The default is QEMU 10's `riscv-iommu-pci` with every
/// property at its default on riscv64; tests change fields to describe other silicon.
public struct RISCVIOMMUConfiguration: Sendable, Hashable {
  /// Interrupt generation support (CAPABILITIES.IGS).
  public enum InterruptGeneration: UInt64, Sendable, Hashable, CaseIterable {
    case msi = 0
    case wsi = 1
    case both = 2
    /// The reserved encoding 3, for tests of the drivers' "invalid IGS" paths.
    case reserved = 3
  }

  /// CAPABILITIES.VERSION (0x10: spec 1.0).
  public var version: UInt64 = 0x10
  /// First-stage modes Sv32/Sv39/Sv48/Sv57 (`s-stage`, default on).
  public var firstStage = true
  /// G-stage modes Sv32x4..Sv57x4 (`g-stage`, default on).
  public var gStage = true
  /// MSI_FLAT and MSI_MRIF (`intremap`, default on). MSI_FLAT selects the extended (64-byte)
  /// device-context format.
  public var msiFlat = true
  /// CAPABILITIES.ATS (`ats`, default on).
  public var ats = true
  /// CAPABILITIES.END: the IOMMU supports both endiannesses, so FCTL.BE may be changed.
  public var bothEndian = false
  public var interruptGeneration: InterruptGeneration = .msi
  /// HPM counters (`hpm-counters`, default 31): CAPABILITIES.HPM when non-zero.
  public var hpmCounters = 31
  /// CAPABILITIES.PAS, the physical address width (56 on riscv64).
  public var physicalAddressBits: UInt64 = 56
  /// The DDTP modes the hardware accepts. QEMU accepts every mode; an implementation that lacks a
  /// directory depth rejects it (the old DDTP is kept, as QEMU does with illegal transitions),
  /// which is what drives the kernel's step-down from 3LVL.
  public var supportedModes: Set<RISCVIOMMUDDTMode> = Set(RISCVIOMMUDDTMode.allCases)
  /// DDTP.MODE after reset: OFF, or BARE when QEMU's `off` property is false.
  public var resetMode: RISCVIOMMUDDTMode = .off
  /// A directory root the hardware fixes (DDTP.PPN is then read-only), or nil.
  public var fixedDirectoryRoot: UInt64? = nil
  /// Largest LOG2SZ-1 each queue base accepts (QEMU: all five bits writable).
  public var maxQueueLog2Size: UInt64 = 0x1f
  /// Whether software can change FCTL.BE. QEMU: always; the reference model: only with END.
  public var bigEndianWritable = true
  /// Highest interrupt vector ICVEC fields keep (QEMU PCI: 3, each field is clamped to it).
  public var maxInterruptVector: UInt64 = 3
  /// ICVEC hard-wired to this value (an implementation with one fixed vector per cause), or nil
  /// for QEMU's writable, clamped fields.
  public var fixedInterruptVectors: UInt64? = nil
  /// Number of MSI-X vectors of the PCI function (QEMU: 5).
  public var msixVectors = 5

  public init() {}

  /// QEMU 10's `riscv-iommu-pci` with default properties.
  public static let qemuPCI = RISCVIOMMUConfiguration()

  /// A platform (`riscv,iommu`) IOMMU with wire-signalled interrupts, as QEMU's
  /// `riscv-iommu-sys` on the virt machine without AIA MSIs.
  public static var platformWSI: RISCVIOMMUConfiguration {
    var c = RISCVIOMMUConfiguration()
    c.interruptGeneration = .wsi
    c.maxInterruptVector = 15
    return c
  }

  /// The CAPABILITIES register these choices give (QEMU's default is 0x78_C2CF_0F10).
  public var capabilities: UInt64 {
    var cap = version & 0xff
    if firstStage { cap |= 0xf << 8 }
    if gStage { cap |= 0xf << 16 }
    if msiFlat { cap |= (1 << 22) | (1 << 23) }
    if ats { cap |= 1 << 25 }
    if bothEndian { cap |= 1 << 27 }
    cap |= interruptGeneration.rawValue << 28
    if hpmCounters > 0 { cap |= 1 << 30 }
    cap |= 1 << 31  // DBG: the debug translation interface exists.
    cap |= (physicalAddressBits & 0x3f) << 32
    cap |= 1 << 38  // PD8
    return cap
  }
}

/// Faults a test can inject into the hardware model.
public struct RISCVIOMMUFaultInjection: Sendable, Hashable {
  /// DDTP.BUSY reads as 1 forever: the hardware never finishes a directory update.
  public var ddtpBusyStuck = false
  /// These queues' CSR BUSY bit reads as 1 forever.
  public var queueBusyStuck: Set<RISCVIOMMUSpec.Queue> = []
  /// These queues never turn on (xQON stays 0 after EN is set).
  public var queueNeverTurnsOn: Set<RISCVIOMMUSpec.Queue> = []
  /// Every register read returns all ones (a function that fell off the bus).
  public var readsAllOnes = false
  public init() {}
}
