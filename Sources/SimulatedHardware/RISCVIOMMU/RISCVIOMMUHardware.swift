import MMIO
import Memory

/// QEMU 10's riscv-iommu (hw/riscv/riscv-iommu.c) as a hardware model: the register file with
/// its reset values and masks, DDTP mode legalisation, queue CSR handshakes (BUSY is synchronous,
/// as in QEMU), the command queue consumed from simulated memory on CQT writes, fault records,
/// and DMA routing through the device directory in memory.
///
/// ```swift
/// let memory = PhysicalMemory()
/// memory.addRAM(base: 0x8000_0000, size: 0x100_0000)
/// let iommu = RISCVIOMMUHardware(memory: memory)
/// iommu.registers.poke(0x4, .qword, at: RISCVIOMMUSpec.ddtp)  // a previous kernel's 3LVL
/// ```
public final class RISCVIOMMUHardware: IOMMUHardwareModel {
  public let name: String
  public let configuration: RISCVIOMMUConfiguration
  public let registers: SimulatedRegisterFile
  /// The memory the IOMMU reads its directory, page tables and queues from.
  public let memory: PhysicalMemory
  /// Whether this is the platform (`riscv,iommu`) variant, with its own MSI configuration table.
  public let isPlatform: Bool
  // The state below is read or changed on every command, translation and register hook by plain
  // stores, single updates or filters whose closures do not touch it, never while another access
  // is in progress (the interrupt sink is called after it is read): no dynamic exclusivity checks.
  @exclusivity(unchecked) public var faultInjection: RISCVIOMMUFaultInjection {
    didSet { applyFaultInjection() }
  }

  /// A queue the hardware has latched at enable time (base address and index mask).
  struct ActiveQueue {
    var base: UInt64
    var mask: UInt32
  }
  /// The latched queues, one slot per queue: a dictionary hashed the queue on every CQT
  /// write, fault record and software-index write.
  struct ActiveQueues {
    var command: ActiveQueue?
    var fault: ActiveQueue?
    var pageRequest: ActiveQueue?

    subscript(queue: RISCVIOMMUSpec.Queue) -> ActiveQueue? {
      get {
        switch queue {
        case .command: command
        case .fault: fault
        case .pageRequest: pageRequest
        }
      }
      set {
        switch queue {
        case .command: command = newValue
        case .fault: fault = newValue
        case .pageRequest: pageRequest = newValue
        }
      }
    }
  }
  @exclusivity(unchecked) var activeQueues = ActiveQueues()

  /// Every command the hardware consumed, in order (QEMU's `riscv_iommu_cmd` trace event).
  @exclusivity(unchecked) public internal(set) var processedCommands: [RISCVIOMMUCommandRecord] = []
  /// Every fault the hardware reported, whether or not the fault queue could take it.
  @exclusivity(unchecked) public internal(set) var faults: [RISCVIOMMUFaultRecord] = []
  /// Whether a blocked route carries its reason (`DMARoute.blocked(reason:)`, empty when off).
  /// The handover machine only counts blocked transactions and turns it off: building the
  /// sentence cost more than routing the transaction.
  @exclusivity(unchecked) public var describesBlockedRoutes = true
  /// Where interrupts go: called with the vector (MSI-X entry or wire) of a cause that became
  /// pending. A machine forwards it to the driver's interrupt handler; nil drops interrupts.
  @exclusivity(unchecked) public var interruptSink: ((_ vector: Int) -> Void)?
  /// Device contexts cached by the hardware (IODIR.INVAL_DDT drops them).
  @exclusivity(unchecked) var deviceContextCache = SmallCache<UInt32, RISCVIOMMUDeviceContext>()
  /// First-stage translations cached by the hardware, by device and page (IOTINVAL.VMA drops them).
  @exclusivity(unchecked) var iotlb = SmallCache<IOTLBKey, IOTLBEntry>()

  /// The riscv-iommu-pci function's configuration space, built once (a 4 KiB register file
  /// costs more to build than to reset).
  public private(set) lazy var pciConfigSpace = RISCVIOMMUPCIFunction.configSpace(
    vectors: configuration.msixVectors)

  public init(
    name: String = "riscv-iommu", configuration: RISCVIOMMUConfiguration = .qemuPCI,
    memory: PhysicalMemory, platform: Bool = false,
    faultInjection: RISCVIOMMUFaultInjection = RISCVIOMMUFaultInjection()
  ) {
    self.name = name
    self.configuration = configuration
    self.memory = memory
    self.isPlatform = platform
    self.faultInjection = faultInjection
    registers = SimulatedRegisterFile(
      size: RISCVIOMMUSpec.registerSize, supportedWidths: [.dword, .qword],
      registers: RISCVIOMMUSpec.registerDefinitions(configuration, platform: platform))
    applyFaultInjection()
    if let fixed = configuration.fixedInterruptVectors {
      registers.poke(fixed & 0xffff, .qword, at: RISCVIOMMUSpec.icvec)
    }
    installHooks()
  }

  public func powerOnReset() {
    registers.reset()
    applyFaultInjection()
    if let fixed = configuration.fixedInterruptVectors {
      registers.poke(fixed & 0xffff, .qword, at: RISCVIOMMUSpec.icvec)
    }
    activeQueues = ActiveQueues()
    // Emptied in place: the model lives from one handover to the next, and caches that keep
    // their storage do not grow (rehashing) again in each.
    deviceContextCache.removeAll(keepingCapacity: true)
    iotlb.removeAll(keepingCapacity: true)
    // What the unit observed is of this power cycle only (kept, the logs grew without end
    // across the benchmark's handovers).
    processedCommands.removeAll(keepingCapacity: true)
    faults.removeAll(keepingCapacity: true)
  }

  /// DDTP.MODE as the hardware holds it now.
  public var ddtMode: RISCVIOMMUDDTMode? {
    RISCVIOMMUDDTMode(rawValue: registers.peek(.qword, at: RISCVIOMMUSpec.ddtp) & 0xf)
  }

  /// Stuck BUSY bits are set in the stored registers (they are read-only to software, and the
  /// handshakes leave them alone while the fault is injected), so reads need no hook.
  private func applyFaultInjection() {
    let s = RISCVIOMMUSpec.self
    registers.readsAllOnes = faultInjection.readsAllOnes
    if faultInjection.ddtpBusyStuck {
      registers.poke(registers.peek(.qword, at: s.ddtp) | s.ddtpBusy, .qword, at: s.ddtp)
    }
    for queue in faultInjection.queueBusyStuck {
      registers.poke(registers.peek(.dword, at: queue.csr) | s.csrBusy, .dword, at: queue.csr)
    }
  }

  // MARK: Side effects

  private func installHooks() {
    let s = RISCVIOMMUSpec.self
    // The hooks the drivers' hot writes run (ICVEC, the queue indices, CQT) reach the model through an
    // unmanaged reference: an unowned capture takes a retain and release on every call. Safe: the
    // register file is this model's own `let`, written only while the model lives (the machine's
    // rig and the tests hold the model; a write after it was gone trapped on the unowned capture).
    let model = Unmanaged.passUnretained(self)
    registers.legalize(at: s.ddtp) { [unowned self] old, proposed in
      legalizeDDTP(old: old, proposed: proposed)
    }
    registers.onWrite(at: s.ddtp) { [unowned self] _, event in
      if event.newValue != event.oldValue { invalidateAllCaches() }
    }
    registers.legalize(at: s.fctl) { [unowned self] old, proposed in
      configuration.bigEndianWritable
        ? proposed : (proposed & ~s.fctlBigEndian) | (old & s.fctlBigEndian)
    }
    registers.legalize(at: s.icvec) { _, proposed in
      model._withUnsafeGuaranteedRef { iommu in
        if let fixed = iommu.configuration.fixedInterruptVectors { return fixed & 0xffff }
        var value: UInt64 = 0
        for field in 0..<4 {
          let v = min((proposed >> UInt64(4 * field)) & 0xf, iommu.configuration.maxInterruptVector)
          value |= v << UInt64(4 * field)
        }
        return value
      }
    }
    for queue in RISCVIOMMUSpec.Queue.allCases {
      registers.legalize(at: queue.base) { [unowned self] _, proposed in
        let log2 = min(proposed & s.queueLog2SizeMask, configuration.maxQueueLog2Size)
        return (proposed & s.ppnMask) | log2
      }
      registers.legalize(at: queue.softwareIndex) { old, proposed in
        // RO while the queue is off; within the latched index mask while it is on.
        guard let active = model._withUnsafeGuaranteedRef({ $0.activeQueues[queue] }) else {
          return old
        }
        return proposed & UInt64(active.mask)
      }
      registers.onWrite(at: queue.csr) { [unowned self] _, event in
        queueControlWritten(queue, event)
      }
    }
    registers.onWrite(at: s.cqt) { _, _ in model._withUnsafeGuaranteedRef { $0.processCommandQueue() } }
    registers.onWrite(at: s.trReqCtl) { [unowned self] _, _ in debugTranslationRequested() }
    registers.onWrite(at: s.ipsr) { [unowned self] _, event in
      reevaluateInterruptPending(cleared: event.value)
    }
  }

  /// QEMU's DDTP write check: same mode, OFF/BARE, or xLVL from OFF/BARE is accepted and the
  /// value sanitised (BUSY and reserved bits cleared); anything else restores the old DDTP.
  func legalizeDDTP(old: UInt64, proposed: UInt64) -> UInt64 {
    let s = RISCVIOMMUSpec.self
    if faultInjection.ddtpBusyStuck { return old }
    let oldMode = old & s.ddtpModeMask
    let newMode = proposed & s.ddtpModeMask
    let supported = RISCVIOMMUDDTMode(rawValue: newMode).map(configuration.supportedModes.contains) ?? false
    let accepted = supported && (newMode == oldMode || newMode <= 1 || oldMode <= 1)
    guard accepted else { return old & ~s.ddtpBusy }
    var ppn = proposed & s.ppnMask
    if let fixed = configuration.fixedDirectoryRoot { ppn = (fixed >> 2) & s.ppnMask }
    return ppn | newMode
  }

  /// xQCSR writes: enabling latches the queue base and size and turns the queue on; disabling
  /// turns it off. BUSY is cleared within the same write, as in QEMU.
  func queueControlWritten(_ queue: RISCVIOMMUSpec.Queue, _ event: SimulatedRegisterFile.WriteEvent) {
    let s = RISCVIOMMUSpec.self
    if faultInjection.queueBusyStuck.contains(queue) { return }
    var csr = event.newValue & ~s.csrBusy
    let wasOn = event.oldValue & s.csrOn != 0
    if csr & s.csrEnable != 0 && !wasOn {
      if !faultInjection.queueNeverTurnsOn.contains(queue) {
        let qb = registers.peek(.qword, at: queue.base)
        let entries = UInt64(2) << (qb & s.queueLog2SizeMask)
        activeQueues[queue] = ActiveQueue(
          base: (qb & s.ppnMask) << 2, mask: UInt32(truncatingIfNeeded: entries - 1))
        registers.poke(0, .dword, at: queue.head)
        registers.poke(0, .dword, at: queue.tail)
        csr |= s.csrOn
        csr &= ~(s.csrMemoryFault | s.csrTimeoutOrOverflow)
        if queue == .command { csr &= ~(s.cqcsrCommandIllegal | s.cqcsrFenceWaitInterruptPending) }
      }
    } else if csr & s.csrEnable == 0 && wasOn {
      activeQueues[queue] = nil
      csr &= ~s.csrOn
    }
    registers.poke(csr, .dword, at: queue.csr)
  }

  /// IPSR is write-1-to-clear, but a cause whose queue still reports an error (with its
  /// interrupt enable set) is raised again at once, as QEMU's riscv_iommu_update_ipsr() does.
  func reevaluateInterruptPending(cleared: UInt64) {
    let s = RISCVIOMMUSpec.self
    var ipsr = registers.peek(.dword, at: s.ipsr)
    for queue in RISCVIOMMUSpec.Queue.allCases where cleared & queue.ipsrBit != 0 {
      let csr = registers.peek(.dword, at: queue.csr)
      var conditions = s.csrMemoryFault | s.csrTimeoutOrOverflow
      if queue == .command { conditions |= s.cqcsrCommandIllegal | s.cqcsrFenceWaitInterruptPending }
      if csr & s.csrInterruptEnable != 0 && csr & conditions != 0 { ipsr |= queue.ipsrBit }
    }
    registers.poke(ipsr, .dword, at: s.ipsr)
  }

  /// Raises a queue's interrupt pending bit when its interrupt enable is set, and signals the
  /// vector ICVEC maps the cause to when the bit was not already pending (one message per
  /// pending edge, as MSI-X delivery and QEMU's riscv_iommu_notify do).
  func raiseInterrupt(_ queue: RISCVIOMMUSpec.Queue) {
    let s = RISCVIOMMUSpec.self
    guard registers.peek(.dword, at: queue.csr) & s.csrInterruptEnable != 0 else { return }
    let ipsr = registers.peek(.dword, at: s.ipsr)
    registers.poke(ipsr | queue.ipsrBit, .dword, at: s.ipsr)
    guard ipsr & queue.ipsrBit == 0, let sink = interruptSink else { return }
    let vector = Int((registers.peek(.qword, at: s.icvec) >> UInt64(4 * queue.rawValue)) & 0xf)
    sink(vector)
  }

  func setCSRBits(_ queue: RISCVIOMMUSpec.Queue, _ bits: UInt64) {
    registers.poke(registers.peek(.dword, at: queue.csr) | bits, .dword, at: queue.csr)
  }

  func invalidateAllCaches() {
    deviceContextCache.removeAll(keepingCapacity: true)
    iotlb.removeAll(keepingCapacity: true)
  }
}
