import MMIO
import Memory

/// An Arm SMMUv3 as QEMU 10's `hw/arm/smmuv3.c` implements its non-secure programming
/// interface: ID registers, CR0 with its CR0ACK handshake (acknowledged within the write),
/// GBPA with the UPDATE handshake (a write without UPDATE is ignored), IRQ_CTRL/IRQ_CTRLACK,
/// GERROR/GERRORN, the stream table and queue bases, the command queue consumed from
/// ``PhysicalMemory`` when CMDQ_PROD is written, and page 1 (+64 KiB) as an exact alias of page 0.
///
/// ```swift
/// let smmu = SMMUv3(memory: memory)
/// try smmu.registers.write(UInt32(0x8), at: SMMUv3Offset.CR0)   // CMDQEN; CR0ACK follows
/// smmu.route(streamID: 8, address: 0x1000, isWrite: true)        // GBPA decides while SMMUEN=0
/// ```
public final class SMMUv3: IOMMUHardwareModel {
  public let name: String
  public let registers: SimulatedRegisterFile
  public let memory: PhysicalMemory
  // The state below is read or changed on every command, translation and register hook by plain
  // stores, appends, single updates or filters whose closures do not touch it, never while
  // another access is in progress (the observer is called after it is read): no dynamic
  // exclusivity checks.
  @exclusivity(unchecked) public var configuration: SMMUv3Configuration {
    didSet { applyIdentification() }
  }

  /// Every command consumed from the command queue, in order (QEMU's `smmuv3_cmdq_opcode`).
  @exclusivity(unchecked) public internal(set) var consumedCommands: [SMMUv3Command] = []
  /// Called for each consumed command as it is consumed (inside the CMDQ_PROD or CR0 write).
  @exclusivity(unchecked) public var commandObserver: ((SMMUv3Command) -> Void)?
  /// Every event the SMMU recorded (whether or not the event queue was on to receive it).
  @exclusivity(unchecked) public internal(set) var events: [SMMUv3Event] = []
  /// Whether a blocked route carries its reason (`DMARoute.blocked(reason:)`, empty when off).
  /// The handover machine only counts blocked transactions and turns it off: building the
  /// sentence cost more than routing the transaction.
  @exclusivity(unchecked) public var describesBlockedRoutes = true
  /// CMD_SYNCs that asked for a wired interrupt (CS=IRQ without an MSI address).
  @exclusivity(unchecked) public internal(set) var syncInterrupts = 0

  // Configuration and TLB caches: what CFGI_* and TLBI_* invalidate.
  @exclusivity(unchecked) var steCache = SmallCache<UInt32, StreamTableEntry>()
  @exclusivity(unchecked) var cdCache = SmallCache<CDKey, ContextDescriptor>()
  @exclusivity(unchecked) var tlb = SmallCache<TLBKey, TLBEntry>()

  public init(
    name: String = "smmuv3", memory: PhysicalMemory,
    configuration: SMMUv3Configuration = .qemu10
  ) {
    self.name = name
    self.memory = memory
    self.configuration = configuration
    registers = SimulatedRegisterFile(
      size: SMMUv3Offset.regionSize, supportedWidths: [.dword, .qword],
      registers: Self.page0Definitions(configuration))
    installPage1Alias()
    installHandshakes()
  }

  /// A cold reset: QEMU's `smmuv3_init_regs` from the reset "hold" phase; caches emptied.
  public func powerOnReset() {
    registers.reset()
    applyIdentification()
    // Emptied in place: the model lives from one handover to the next, and caches that keep
    // their storage do not grow (rehashing) again in each.
    steCache.removeAll(keepingCapacity: true)
    cdCache.removeAll(keepingCapacity: true)
    tlb.removeAll(keepingCapacity: true)
    // What the unit observed is of this power cycle only (kept, the logs grew without end
    // across the benchmark's handovers).
    consumedCommands.removeAll(keepingCapacity: true)
    events.removeAll(keepingCapacity: true)
    syncInterrupts = 0
  }

  private func applyIdentification() {
    let c = configuration
    for (offset, value) in [
      (SMMUv3Offset.IDR0, c.idr0), (SMMUv3Offset.IDR1, c.idr1), (SMMUv3Offset.IDR2, c.idr2),
      (SMMUv3Offset.IDR3, c.idr3), (SMMUv3Offset.IDR4, c.idr4), (SMMUv3Offset.IDR5, c.idr5),
      (SMMUv3Offset.IIDR, c.iidr), (SMMUv3Offset.AIDR, c.aidr),
    ] {
      registers.poke(UInt64(value), .dword, at: offset)
    }
  }

  // MARK: Register semantics

  func reg32(_ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: registers.peek(.dword, at: offset)) }
  func reg64(_ offset: Int) -> UInt64 { registers.peek(.qword, at: offset) }
  func set32(_ value: UInt32, _ offset: Int) { registers.poke(UInt64(value), .dword, at: offset) }

  /// The CR0 bits the SMMU has applied (CR0ACK): what governs its behaviour.
  public var appliedCR0: UInt32 { reg32(SMMUv3Offset.CR0ACK) }
  /// Whether SMMUEN is applied.
  public var isEnabled: Bool { appliedCR0 & CR0Bits.SMMUEN != 0 }
  /// GERROR bits active (toggled by the SMMU and not yet acknowledged through GERRORN).
  public var activeGlobalErrors: UInt32 {
    reg32(SMMUv3Offset.GERROR) ^ reg32(SMMUv3Offset.GERRORN)
  }

  private func installHandshakes() {
    // The hooks the drivers' hot writes run (CR0, GERRORN, CMDQ_PROD) reach the model through an
    // unmanaged reference: an unowned capture takes a retain and release on every call. Safe: the
    // register file is this model's own `let`, written only while the model lives (the machine's
    // rig and the tests hold the model; a write after it was gone trapped on the unowned capture).
    let model = Unmanaged.passUnretained(self)
    registers.onWrite(at: SMMUv3Offset.CR0) { regs, e in
      model._withUnsafeGuaranteedRef { smmu in
        // QEMU acknowledges in the same write, without the reserved bits.
        if !smmu.configuration.faults.contains(.cr0AckStuck) {
          regs.poke(e.newValue & CR0Bits.ackMask, .dword, at: SMMUv3Offset.CR0ACK)
        }
        smmu.consumeCommandQueue()
      }
    }
    registers.onWrite(at: SMMUv3Offset.GBPA) { [unowned self] regs, e in
      if e.value & GBPABits.UPDATE == 0 {
        // A write without UPDATE is ignored.
        regs.poke(e.oldValue, .dword, at: SMMUv3Offset.GBPA)
      } else if configuration.faults.contains(.gbpaUpdateStuck) {
        // The update is never applied and UPDATE never clears.
        regs.poke(e.oldValue | GBPABits.UPDATE, .dword, at: SMMUv3Offset.GBPA)
      } else {
        regs.poke(e.newValue & ~GBPABits.UPDATE, .dword, at: SMMUv3Offset.GBPA)
      }
    }
    registers.onWrite(at: SMMUv3Offset.IRQ_CTRL) { [unowned self] regs, e in
      if !configuration.faults.contains(.irqAckStuck) {
        regs.poke(e.newValue, .dword, at: SMMUv3Offset.IRQ_CTRLACK)
      }
    }
    registers.onWrite(at: SMMUv3Offset.GERRORN) { _, _ in
      // Acknowledging CMDQ_ERR restarts command processing.
      model._withUnsafeGuaranteedRef { $0.consumeCommandQueue() }
    }
    registers.onWrite(at: SMMUv3Offset.CMDQ_PROD) { _, _ in
      model._withUnsafeGuaranteedRef { $0.consumeCommandQueue() }
    }
    let idr1 = { [unowned self] in configuration.idr1 }
    for (offset, shift) in [
      (SMMUv3Offset.CMDQ_BASE, 21), (SMMUv3Offset.EVTQ_BASE, 16), (SMMUv3Offset.PRIQ_BASE, 11),
    ] {
      // LOG2SIZE is clamped to what IDR1 advertises (QEMU clamps CMDQ/EVTQ to 19).
      registers.legalize(at: offset) { _, proposed in
        let maximum = UInt64(idr1() >> UInt32(shift) & 0x1f)
        return (proposed & ~0x1f) | min(proposed & 0x1f, maximum)
      }
    }
  }

  /// Page 1 is an exact alias of page 0 ("CONSTRAINED UNPREDICTABLE choice" in QEMU): each
  /// page-0 register is mirrored at +64 KiB, forwarding writes and reading through.
  private func installPage1Alias() {
    for d in registers.definitions {
      let alias = d.offset + SMMUv3Offset.page1
      registers.define(
        .init("\(d.name)_PAGE1", offset: alias, width: d.width, readOnly: d.width.valueMask))
      registers.onWrite(at: alias) { regs, e in
        try? regs.write(e.value, e.width, at: e.offset - SMMUv3Offset.page1)
        regs.poke(regs.peek(d.width, at: d.offset), d.width, at: alias)
      }
      registers.onRead(at: alias) { regs, _ in
        _ = try? regs.read(d.width, at: d.offset)
        regs.poke(regs.peek(d.width, at: d.offset), d.width, at: alias)
      }
    }
  }

  // MARK: DMA

  /// Routes one transaction: with SMMUEN clear, GBPA decides (bypass, or abort when
  /// GBPA.ABORT is set); with SMMUEN set, the stream table entry for `streamID` does.
  public func route(streamID: UInt32, address: UInt64, isWrite: Bool) -> DMARoute {
    guard isEnabled else {
      if reg32(SMMUv3Offset.GBPA) & GBPABits.ABORT != 0 {
        return .blocked(reason: "GBPA.ABORT while SMMUEN=0")
      }
      return .bypassed(physical: address)
    }
    return translate(streamID: streamID, substreamID: nil, address: address, isWrite: isWrite)
  }
}

/// CR0 bits.
public enum CR0Bits {
  public static let SMMUEN: UInt32 = 1 << 0
  public static let PRIQEN: UInt32 = 1 << 1
  public static let EVTQEN: UInt32 = 1 << 2
  public static let CMDQEN: UInt32 = 1 << 3
  public static let ATSCHK: UInt32 = 1 << 4
  /// The bits CR0ACK reflects (QEMU clears the reserved mask 0xFFFFFC20).
  static let ackMask: UInt64 = ~0xffff_fc20 & 0xffff_ffff
}

/// GBPA bits.
public enum GBPABits {
  public static let UPDATE: UInt64 = 1 << 31
  public static let ABORT: UInt32 = 1 << 20
}

/// GERROR bits.
public enum GERRORBits {
  public static let CMDQ_ERR: UInt32 = 1 << 0
  public static let EVTQ_ABT_ERR: UInt32 = 1 << 2
  public static let PRIQ_ABT_ERR: UInt32 = 1 << 3
  public static let SFM_ERR: UInt32 = 1 << 8
}
