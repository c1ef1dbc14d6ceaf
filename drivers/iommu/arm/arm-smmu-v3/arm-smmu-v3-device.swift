import DeviceCore
import Kernel
import MMIO
import Memory

/// Which policy the model runs, to prototype the handover debate. The default is Linux 7.2.
public enum ARMSMMUv3Variant: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Linux 7.2: shutdown clears CR0 only (traffic then follows GBPA, usually bypass); a kdump
  /// kernel that finds SMMUEN set aborts through GBPA, resets and leaves EVTQ/PRIQ off.
  case kernel
  /// Shutdown sets GBPA.ABORT before clearing SMMUEN, so devices that were not quiesced are
  /// aborted rather than bypassed after the handover.
  case abortHandover = "abort-handover"
  /// The proposed "kdump adopt" series: a crash kernel that finds SMMUEN set (and no SFM_ERR)
  /// keeps SMMUEN and the old stream table, restarts only the command queue and defers attach.
  case kdumpAdopt = "kdump-adopt"
  /// The kernel-list proposal: shutdown leaves SMMUEN and the configuration on but gives every
  /// master an abort STE (the blocked domain), so a master whose driver did not quiesce it is
  /// terminated from there on. A kernel that finds SMMUEN set switches in one step to aborting
  /// everything (GBPA.ABORT, then the CR0 write that clears SMMUEN), then enables a fresh
  /// all-abort stream table in its own memory; only devices it attaches translate again. It
  /// refuses to clear SMMUEN when GBPA cannot be set to abort, since that would bypass.
  case kernelList = "kernel-list"

  public var description: String { rawValue }
}

/// One of the SMMU's queues (`struct arm_smmu_queue` with its `arm_smmu_ll_queue`).
struct ARMSMMUQueue {
  var name: String
  /// `llq.max_n_shift`: log2 of the number of entries.
  var maxNShift: UInt32 = 0
  var prod: UInt32 = 0
  var cons: UInt32 = 0
  var entryDwords: Int
  var buffer: DMABuffer?
  /// `q_base`: the value for the *_BASE register.
  var qBase: UInt64 = 0
  /// Offsets of the PROD and CONS registers, page 1 applied.
  var prodRegister: Int
  var consRegister: Int

  var idxMask: UInt32 { (1 << maxNShift) - 1 }
  /// `Q_IDX`, `Q_WRP`.
  func idx(_ p: UInt32) -> UInt32 { p & idxMask }
  func wrp(_ p: UInt32) -> UInt32 { p & (1 << maxNShift) }

  /// `queue_has_space()`.
  func hasSpace(_ n: UInt32) -> Bool {
    let space: UInt32 =
      wrp(prod) == wrp(cons) ? (1 << maxNShift) - (idx(prod) - idx(cons)) : idx(cons) - idx(prod)
    return space >= n
  }

  /// `queue_consumed()`: whether the hardware has consumed the entry at `p`.
  func consumed(_ p: UInt32) -> Bool {
    (wrp(cons) == wrp(p) && idx(cons) > idx(p)) || (wrp(cons) != wrp(p) && idx(cons) <= idx(p))
  }

  /// `queue_inc_prod_n()`.
  func incProd(_ p: UInt32, by n: UInt32) -> UInt32 {
    let v = (wrp(p) | idx(p)) &+ n
    return (p & Queue.OVERFLOW_FLAG) | (v & ((1 << (maxNShift + 1)) - 1))
  }

  /// DMA address of entry `p`.
  func entryAddress(_ p: UInt32) -> UInt64 {
    (buffer?.address ?? 0) + UInt64(idx(p)) * UInt64(entryDwords) * 8
  }
}

/// `struct arm_smmu_strtab_cfg`: a linear table, or a 2-level table whose L2 tables are
/// allocated as masters appear.
struct ARMSMMUStrtabConfig {
  var linear: DMABuffer?
  var numLinearEntries: UInt32 = 0
  var l1: DMABuffer?
  var numL1Entries: UInt32 = 0
  var l2: [UInt32: DMABuffer] = [:]
  /// The table was inherited from the previous kernel (kdump-adopt): its base, as read.
  var adoptedBase: UInt64?
}

/// `struct arm_smmu_device`: one probed SMMUv3.
public final class ARMSMMUv3Device {
  public let dev: Device
  let base: IOMem
  // The state below is read on every command and attach and changed by plain stores, appends and
  // element updates, never while another access is in progress (none is passed inout): no dynamic
  // exclusivity checks.
  /// Offset of page 1 within the mapping (0 with ARM_SMMU_OPT_PAGE0_REGS_ONLY).
  @exclusivity(unchecked) var page1: Int = 0x10000
  @exclusivity(unchecked) public internal(set) var features: ARMSMMUv3Features = []
  @exclusivity(unchecked) public internal(set) var options: ARMSMMUv3Options = []
  @exclusivity(unchecked) public internal(set) var ias: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var oas: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var asidBits: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var vmidBits: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var ssidBits: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var sidBits: UInt32 = 0
  @exclusivity(unchecked) public internal(set) var pgsizeBitmap: UInt64 = 0
  // Touched for every command; only this device's own code reaches them, and nothing it calls
  // while one is passed inout (queue set-up) comes back to the queues: no dynamic checks.
  @exclusivity(unchecked) var cmdq: ARMSMMUQueue
  @exclusivity(unchecked) var evtq: ARMSMMUQueue
  @exclusivity(unchecked) var priq: ARMSMMUQueue
  @exclusivity(unchecked) var strtab = ARMSMMUStrtabConfig()
  /// Named interrupts found (`combined`, `eventq`, `priq`, `gerror`).
  @exclusivity(unchecked) var combinedIRQ = false
  @exclusivity(unchecked) var evtqIRQ = false
  @exclusivity(unchecked) var priqIRQ = false
  @exclusivity(unchecked) var gerrIRQ = false
  let variant: ARMSMMUv3Variant
  /// Set when the kdump-adopt variant kept the previous kernel's translation.
  @exclusivity(unchecked) public internal(set) var adopted = false
  /// Set when the kernel-list variant found SMMUEN set but could not make GBPA abort: clearing
  /// SMMUEN on the error path would then let every stream bypass, so it stays set.
  @exclusivity(unchecked) var mustStayEnabled = false
  // Other modules (the machine's binding) do not see `@exclusivity(unchecked)`: they read it
  // through an inlinable accessor.
  /// Masters probed behind this SMMU, by stream ID.
  public internal(set) var masters: [ARMSMMUv3Master] {
    @inlinable get { uncheckedMasters }
    set { uncheckedMasters = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedMasters: [ARMSMMUv3Master] = []
  /// The name under /sys/class/iommu (`smmu3.%pa`), once registered.
  @exclusivity(unchecked) public internal(set) var sysfsName: String?
  /// Next ASID to hand out (`arm_smmu_asid_xa`, allocated from 1).
  @exclusivity(unchecked) var nextASID: UInt16 = 1

  init(dev: Device, base: IOMem, variant: ARMSMMUv3Variant) {
    self.dev = dev
    self.base = base
    self.variant = variant
    memory = dev.core?.memory
    heldMemory = memory.map { .passUnretained($0) }
    clock = dev.kernel?.clock
    cmdq = ARMSMMUQueue(
      name: "cmdq", entryDwords: Queue.CMDQ_ENT_DWORDS, prodRegister: Reg.CMDQ_PROD,
      consRegister: Reg.CMDQ_CONS)
    evtq = ARMSMMUQueue(
      name: "evtq", entryDwords: Queue.EVTQ_ENT_DWORDS, prodRegister: 0, consRegister: 0)
    priq = ARMSMMUQueue(
      name: "priq", entryDwords: Queue.PRIQ_ENT_DWORDS, prodRegister: 0, consRegister: 0)
    // Room for a few masters from the start: grown one append at a time, the list was
    // reallocated at the second and the third.
    uncheckedMasters.reserveCapacity(4)
  }

  var kernel: Kernel? { dev.kernel }
  var isKdumpKernel: Bool { kernel?.isKdumpKernel ?? false }
  /// The driver core's memory and the kernel's clock, both `let`s there, taken once at probe:
  /// every command and poll reached them through the device's `core` (neither refers back
  /// to the driver, so holding them makes no cycle).
  let memory: PhysicalMemory?
  let clock: SimulatedClock?
  /// `memory` for ``write64(_:at:)`` and ``read64(_:)``: binding the optional reference
  /// retained and released it around every STE, CD and command doubleword. Safe: `memory` holds it as long as the device.
  private let heldMemory: Unmanaged<PhysicalMemory>?

  // Register accessors (readl_relaxed / writel_relaxed / writeq_relaxed).
  func readl(_ offset: Int) throws(Errno) -> UInt32 { try base.readl(offset) }
  func writel(_ value: UInt32, _ offset: Int) throws(Errno) { try base.writel(value, offset) }
  func writeq(_ value: UInt64, _ offset: Int) throws(Errno) { try base.writeq(value, offset) }
  func readq(_ offset: Int) throws(Errno) -> UInt64 { try base.readq(offset) }

  /// `readl_relaxed_poll_timeout(reg, val, cond, 1, ARM_SMMU_POLL_TIMEOUT_US)`.
  func pollRegister(_ offset: Int, until cond: (UInt32) -> Bool) throws(Errno) -> Polled<UInt32> {
    try base.pollTimeout(
      sleepUs: 1, timeoutUs: ARM_SMMU_POLL_TIMEOUT_US, { () throws(Errno) in try readl(offset) },
      until: cond)
  }

  /// Writes an entry's doubleword into memory the SMMU reads (`WRITE_ONCE` on a coherent table).
  func write64(_ value: UInt64, at address: UInt64) throws(Errno) {
    guard let heldMemory else { throw .ENOMEM }
    do {
      try heldMemory._withUnsafeGuaranteedRef { try $0.write64(value, at: address) }
    } catch { throw .EFAULT }
  }

  func read64(_ address: UInt64) throws(Errno) -> UInt64 {
    guard let heldMemory else { throw .ENOMEM }
    do {
      return try heldMemory._withUnsafeGuaranteedRef { try $0.read64(address) }
    } catch { throw .EFAULT }
  }
}
