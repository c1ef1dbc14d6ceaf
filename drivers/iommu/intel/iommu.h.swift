import DeviceCore
import IOMMURegisters
import Kernel
import MMIO
import Memory

// Register offsets, command/status bits and capability accessors of
// drivers/iommu/intel/iommu.h (Linux 7.2).

/// `DMAR_*_REG` offsets.
public enum DMARReg {
  public static let VER = 0x0
  public static let CAP = 0x8
  public static let ECAP = 0x10
  public static let GCMD = 0x18
  public static let GSTS = 0x1c
  public static let RTADDR = 0x20
  public static let CCMD = 0x28
  public static let FSTS = 0x34
  public static let FECTL = 0x38
  public static let FEDATA = 0x3c
  public static let FEADDR = 0x40
  public static let FEUADDR = 0x44
  public static let PMEN = 0x64
  public static let IQH = 0x80
  public static let IQT = 0x88
  public static let IQA = 0x90
  public static let IRTA = 0xb8
}

/// `DMA_GCMD_*` / `DMA_GSTS_*` (the status bit sits where its command bit does).
public enum DMAGcmd {
  public static let TE: UInt32 = 1 << 31
  public static let SRTP: UInt32 = 1 << 30
  public static let SFL: UInt32 = 1 << 29
  public static let EAFL: UInt32 = 1 << 28
  public static let WBF: UInt32 = 1 << 27
  public static let QIE: UInt32 = 1 << 26
  public static let IRE: UInt32 = 1 << 25
  public static let SIRTP: UInt32 = 1 << 24
  public static let CFI: UInt32 = 1 << 23
}

/// `DMA_RTADDR_SMT`: the root table is a scalable-mode table.
public let DMA_RTADDR_SMT: UInt64 = 1 << 10
/// `DMA_PMEN_EPM` / `DMA_PMEN_PRS`.
public let DMA_PMEN_EPM: UInt32 = 1 << 31
public let DMA_PMEN_PRS: UInt32 = 1 << 0
/// `DMA_FSTS_*`.
public let DMA_FSTS_PFO: UInt32 = 1 << 0
public let DMA_FSTS_PPF: UInt32 = 1 << 1
public let DMA_FSTS_IQE: UInt32 = 1 << 4
public let DMA_FSTS_ICE: UInt32 = 1 << 5
public let DMA_FSTS_ITE: UInt32 = 1 << 6
public let DMA_FSTS_PRO: UInt32 = 1 << 7

/// The capability register: the same typed register `iommu-model host` decodes real values
/// with (IOMMURegisters), plus the `cap_*()` accessors of iommu.h the driver reads.
public typealias VTdCap = VTdCapability

extension VTdCapability {
  public var ndoms: Int { 1 << (4 + 2 * Int(raw & 7)) }
  public var rwbf: Bool { raw[bit: 4] }
  public var plmr: Bool { raw[bit: 5] }
  public var phmr: Bool { raw[bit: 6] }
  public var sagaw: Int { Int(raw[bits: 8...12]) }
  public var mgaw: Int { Int(raw[bits: 16...21]) + 1 }
  public var faultRegOffset: Int { Int(raw[bits: 24...33]) * 16 }
  public var numFaultRegs: Int { Int(raw[bits: 40...47]) + 1 }
  public var writeDrain: Bool { raw[bit: 54] }
  public var readDrain: Bool { raw[bit: 55] }
  public var esrtps: Bool { raw[bit: 63] }
  /// `cap_max_fault_reg_offset()`.
  public var maxFaultRegOffset: Int { faultRegOffset + numFaultRegs * 16 }
}

/// The extended capability register (IOMMURegisters' type), with the `ecap_*()` accessors of
/// iommu.h.
public typealias VTdEcap = VTdExtendedCapability

extension VTdExtendedCapability {
  public var qis: Bool { raw[bit: 1] }
  public var irSupport: Bool { raw[bit: 3] }
  public var eimSupport: Bool { raw[bit: 4] }
  public var iotlbOffset: Int { Int(raw[bits: 8...17]) * 16 }
  public var prs: Bool { raw[bit: 29] }
  public var smts: Bool { raw[bit: 43] }
  /// `ecap_max_iotlb_offset()`.
  public var maxIOTLBOffset: Int { iotlbOffset + 16 }
}

/// `VTD_FLAG_*` of `struct intel_iommu`.
public struct IntelIOMMUFlags: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// `VTD_FLAG_TRANS_PRE_ENABLED`: GSTS.TES was set when this kernel found the unit.
  public static let transPreEnabled = IntelIOMMUFlags(rawValue: 1 << 0)
  /// `VTD_FLAG_IRQ_REMAP_PRE_ENABLED`.
  public static let irqRemapPreEnabled = IntelIOMMUFlags(rawValue: 1 << 1)
}

/// How a mirrored function ends when it does not return normally: a negative errno, or a stop
/// the kernel cannot return from (panic, hang), reported instead of crashing the model.
public enum DMARError: Error, Sendable, Hashable, CustomStringConvertible {
  case errno(Errno)
  case fatal(KernelFatal)

  public var description: String {
    switch self {
    case .errno(let e): "\(e)"
    case .fatal(let f): "\(f)"
    }
  }
}

/// A point where the real kernel stops: `panic()` or an endless loop.
public struct KernelFatal: Sendable, Hashable, CustomStringConvertible {
  public enum Kind: String, Sendable, Hashable {
    case panic
    case hang
  }
  public var kind: Kind
  /// The message (`DMAR hardware is malfunctioning`).
  public var message: String
  /// What the model observed (which register, which bit, how long).
  public var detail: String

  /// The console line the kernel prints.
  public var consoleLine: String {
    kind == .panic ? "Kernel panic - not syncing: \(message)" : message
  }
  public var description: String { "\(consoleLine) (\(detail))" }
}

/// `DMAR_OPERATION_TIMEOUT`: IOMMU_WAIT_OP spins for 10 seconds of TSC cycles before it panics.
public let DMAR_OPERATION_TIMEOUT_US: UInt64 = 10_000_000
/// `QI_LENGTH`: descriptors in the invalidation queue.
public let QI_LENGTH = 256
/// `INTR_REMAP_TABLE_REG_SIZE` (IRTA.S) and `INTR_REMAP_TABLE_ENTRIES`.
public let INTR_REMAP_TABLE_REG_SIZE: UInt64 = 0xf
public let INTR_REMAP_TABLE_ENTRIES = 65536

/// `struct intel_iommu`: one remapping unit as the driver keeps it.
public final class IntelIOMMU {
  /// `dmar%d`.
  public let name: String
  public let seqID: Int
  /// `reg_phys`, `reg_size`.
  public let regPhys: UInt64
  // The state below is read on every mapping and register step and changed by plain stores and
  // set updates, never while another access is in progress (none is passed inout): no dynamic
  // exclusivity checks.
  @exclusivity(unchecked) public internal(set) var regSize: UInt64
  /// `iommu->reg`: the mapped register set.
  let reg: any WritableRegisterIO
  @exclusivity(unchecked) public internal(set) var cap = VTdCap(raw: 0)
  @exclusivity(unchecked) public internal(set) var ecap = VTdEcap(raw: 0)
  /// The software copy of GCMD (GCMD cannot be read back).
  @exclusivity(unchecked) public internal(set) var gcmd: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var flags: IntelIOMMUFlags = []
  @exclusivity(unchecked) public internal(set) var agaw = 0
  @exclusivity(unchecked) public internal(set) var msagaw = 0
  /// `iommu->qi`, set once queued invalidation is enabled.
  var qi: QInval?
  /// `iommu->root_entry`: this kernel's root table.
  @exclusivity(unchecked) public internal(set) var rootEntry: DMABuffer?
  /// `iommu->ir_table`.
  var irTable: IRTable?
  /// `iommu->copied_tables`: requester IDs whose context entry came from the previous kernel.
  @exclusivity(unchecked) public internal(set) var copiedTables: Set<UInt16> = []
  /// Domain IDs in use (`domain_ida`), copied ones included.
  // Room for a few from the start: grown one insert at a time, the set was reallocated twice.
  @exclusivity(unchecked) public internal(set) var domainIDs = Set<Int>(minimumCapacity: 8)
  @exclusivity(unchecked) var faultIRQ = false
  unowned let driver: IntelIOMMUDriver
  /// The driver's memory, held here: reached through the unowned `driver`, every descriptor
  /// and status word of a queued invalidation took a retain and release.
  let memory: PhysicalMemory
  weak var drhd: DMARDRHDUnit?

  init(
    name: String, seqID: Int, regPhys: UInt64, regSize: UInt64, reg: any WritableRegisterIO, driver: IntelIOMMUDriver
  ) {
    self.name = name
    self.seqID = seqID
    self.regPhys = regPhys
    self.regSize = regSize
    self.reg = reg
    self.driver = driver
    memory = driver.memory
  }

  var kernel: Kernel { driver.kernel }
  public var translationPreEnabled: Bool { flags.contains(.transPreEnabled) }

  // MARK: readl/writel/dmar_readq/dmar_writeq

  private func mmioFault(_ e: IOError) -> DMARError {
    .fatal(KernelFatal(kind: .panic, message: "Fatal exception", detail: "\(name): \(e)"))
  }
  func readl(_ offset: Int) throws(DMARError) -> UInt32 {
    do { return try reg.readl(offset) } catch { throw mmioFault(error) }
  }
  func writel(_ value: UInt32, _ offset: Int) throws(DMARError) {
    do { try reg.writel(value, offset) } catch { throw mmioFault(error) }
  }
  func readq(_ offset: Int) throws(DMARError) -> UInt64 {
    do { return try reg.readq(offset) } catch { throw mmioFault(error) }
  }
  func writeq(_ value: UInt64, _ offset: Int) throws(DMARError) {
    do { try reg.writeq(value, offset) } catch { throw mmioFault(error) }
  }

  /// Mirrors the IOMMU_WAIT_OP() macro, drivers/iommu/intel/iommu.h (Linux 7.2): reads the
  /// register until `cond` holds; after DMAR_OPERATION_TIMEOUT it panics with "DMAR hardware is
  /// malfunctioning". Each turn costs the clock's busy-wait step (simulated, nothing sleeps).
  @discardableResult
  func waitOp(_ offset: Int, _ what: String, until cond: (UInt32) -> Bool) throws(DMARError) -> UInt32 {
    UInt32(truncatingIfNeeded: try waitOp(offset, what, width: .dword) { cond(UInt32(truncatingIfNeeded: $0)) })
  }

  /// IOMMU_WAIT_OP() with `readl` (`.dword`) or `dmar_readq` (`.qword`).
  @discardableResult
  func waitOp(_ offset: Int, _ what: String, width: AccessWidth, until cond: (UInt64) -> Bool) throws(DMARError)
    -> UInt64
  {
    let clock = kernel.clock
    let start = clock.nanoseconds
    while true {
      let sts = width == .qword ? try readq(offset) : UInt64(try readl(offset))
      if cond(sts) { return sts }
      if clock.nanoseconds - start > DMAR_OPERATION_TIMEOUT_US * 1_000 {
        let f = KernelFatal(
          kind: .panic, message: "DMAR hardware is malfunctioning",
          detail: "\(name): \(what) never came (register \(hex(offset)) = \(hex(sts)))")
        kernel.printk(.emerg, f.consoleLine)
        throw .fatal(f)
      }
      clock.advance(nanoseconds: clock.busyWaitStepNanoseconds)
    }
  }
}
