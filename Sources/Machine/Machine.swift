import DeviceCore
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// The silicon of a machine: its memory and IOMMU hardware models, and its client functions.
public struct MachineRig {
  public let memory: PhysicalMemory
  public let hardware: [any IOMMUHardwareModel]
  let clients: [ClientFunction]
  let wiring: [IOMMUWiring]
}

/// Knobs of a machine that are not policies.
public struct MachineOptions: Sendable, Hashable {
  /// The IOMMU driver is a module loaded after the clients probed: they probe without it (no
  /// device link) and the device list puts the IOMMU after them, so `device_shutdown()` reaches
  /// the IOMMU first.
  public var iommuDriverLoadedLate = false
  /// Transactions each running engine issues in a stage that stands for a long time (the old
  /// kernel running, the next kernel's early boot, the next kernel running).
  public var burst = 4
  /// Simulated time the old kernel runs before the handover, and the time from the jump to the
  /// next kernel until its IOMMU driver probes (purgatory, decompression, early init).
  public var oldKernelRunNanoseconds: UInt64 = 1_000_000_000
  public var earlyBootNanoseconds: UInt64 = 400_000_000
  /// Keep a timeline (costs time: the benchmark turns it off).
  public var recordTimeline = true
  /// Keep each kernel's log (`dmesg`, and the timeline's log lines). The matrix reads neither
  /// and turns it off: its kernels' printk then builds no text at all.
  public var keepKernelLogs = true
  public var plan = MemoryPlan()
  public init() {}
}

/// The handover machine: RAM with owners, a clock, IOMMUs, clients with DMA engines, and the
/// kernels that run on it one after the other.
public final class Machine {
  /// The kernel-list proposal as a policy name: the next kernel keeps the IOMMU configured,
  /// switches atomically to all-abort tables, and lets only quiesced devices attach.
  public static let kernelListPolicy = "kernel-list"

  public let options: MachineOptions
  public let memory: PhysicalMemory
  public let clock = SimulatedClock()
  public let iommus: [MachineIOMMU]
  public let clients: [MachineClient]

  // Set by plain stores and appends at each boot, read at every step: no dynamic exclusivity
  // checks.
  @exclusivity(unchecked) public internal(set) var kernel: Kernel?
  @exclusivity(unchecked) public internal(set) var core: DriverCore?
  /// Every kernel that ran, in order, with its driver core.
  @exclusivity(unchecked) public internal(set) var kernels: [(kernel: Kernel, core: DriverCore)] = []
  @exclusivity(unchecked) var allocator: DMAAllocator?
  /// The label of the current kernel's memory (`old`, `new`, `crash`).
  @exclusivity(unchecked) public internal(set) var generation = "old"
  @exclusivity(unchecked) public internal(set) var stage = HandoverStage.oldKernelBoot
  // The accounting below runs for every transaction and memory write; the machine is
  // single-threaded and never re-enters it, so dynamic exclusivity checks are left out.

  /// DMA per stage, indexed by ``HandoverStage/index``.
  @exclusivity(unchecked) var stageTotals = [DMAStats](repeating: DMAStats(), count: HandoverStage.allCases.count)
  @exclusivity(unchecked) public internal(set) var timeline: [TimelineEvent] = []
  @exclusivity(unchecked) var registerWrites: [String: [String: Int]] = [:]
  @exclusivity(unchecked) var loggedLines: [ObjectIdentifier: Int] = [:]
  /// Pages the old kernel wrote (tables, queues, DMA): a kexec'd kernel overwrites them.
  var oldKernelPages: [UInt64] { memory.writtenPages }
  @exclusivity(unchecked) public internal(set) var scenario: HandoverScenario?
  /// A late IOMMU module's `device_add()` and `driver_register()`, run after the clients'.
  @exclusivity(unchecked) var lateRegistrations: [() -> Void] = []
  /// Each client's driver, made once: it is stateless, and every kernel registers it.
  private(set) var clientDrivers: [ClientDriver] = []
  /// The rig this machine was built on, when it took all of it (hardware, client functions,
  /// wiring): ``rig`` hands it on as it is instead of gathering its parts again.
  private let wholeRig: MachineRig?

  /// A machine with one IOMMU per adapter (each with its variant) and `clients`, spread over
  /// the IOMMUs in turn.
  ///
  /// `rig` hands over the memory and hardware models of an earlier machine, which are powered
  /// on again (memory emptied, `powerOnReset()`) instead of built anew: what the matrix does,
  /// since building a large register file costs more than a handover.
  public init(
    iommus: [(adapter: any HandoverIOMMU, variant: String)], clients: [ClientSpec],
    options: MachineOptions = MachineOptions(), rig: MachineRig? = nil
  ) {
    self.options = options
    let memory: PhysicalMemory
    let hardware: [any IOMMUHardwareModel]
    let usedRig = rig.flatMap { $0.hardware.count == iommus.count ? $0 : nil }
    if let rig = usedRig {
      memory = rig.memory
      memory.removeAll()
      hardware = rig.hardware
      for h in hardware { h.powerOnReset() }
    } else {
      memory = PhysicalMemory()
      hardware = iommus.map { $0.adapter.makeHardware(memory: memory) }
    }
    self.memory = memory
    options.plan.populate(memory, oldKernel: "old")
    // The rig's client functions where they are the same kinds on the same buses (the
    // matrix's handovers on one IOMMU differ only in policy and quiescing), else new ones.
    let rigFunctions = usedRig?.clients ?? []
    // And its wiring, when it has as many clients (which gives the same stream IDs).
    let rigWiring = rigFunctions.count == clients.count ? usedRig?.wiring ?? [] : []
    var machineClients: [MachineClient] = []
    machineClients.reserveCapacity(clients.count)
    for (index, spec) in clients.enumerated() {
      let iommuIndex = index % max(1, iommus.count)
      let bus = iommus.isEmpty ? BusType.platform : iommus[iommuIndex].adapter.clientBus
      let function: ClientFunction
      if index < rigFunctions.count, rigFunctions[index].kind == spec.kind, rigFunctions[index].bus == bus {
        function = rigFunctions[index]
      } else {
        function = ClientFunction(kind: spec.kind, index: index, bus: bus)
      }
      machineClients.append(
        MachineClient(
          spec: spec, function: function, iommuIndex: iommuIndex,
          hardware: hardware.isEmpty ? nil : hardware[iommuIndex],
          enumeratedEarly: !iommus.isEmpty && iommus[iommuIndex].adapter.clientsEnumeratedFirst))
    }
    let clients = machineClients
    self.clients = clients
    self.iommus = zip(iommus, hardware).enumerated().map { i, pair in
      let wiring: IOMMUWiring
      if rigWiring.count == iommus.count {
        wiring = rigWiring[i]
      } else {
        var streamIDs: [UInt32] = []
        streamIDs.reserveCapacity(clients.count)
        for client in clients where client.iommuIndex == i { streamIDs.append(client.streamID) }
        wiring = IOMMUWiring(controlRegisters: pair.0.adapter.controlRegisters.sorted(), clientStreamIDs: streamIDs)
      }
      return MachineIOMMU(adapter: pair.0.adapter, variant: pair.0.variant, hardware: pair.1, wiring: wiring)
    }
    let tookWholeRig =
      rigWiring.count == iommus.count && zip(clients, rigFunctions).allSatisfy { $0.function === $1 }
    wholeRig = tookWholeRig ? usedRig : nil
    // One entry per kernel: the old one and the next.
    kernels.reserveCapacity(2)
    memory.tracksWrittenPages = true
    clientDrivers = clients.map { ClientDriver(client: $0, machine: self) }
  }

  public convenience init(
    adapter: any HandoverIOMMU, variant: String = "kernel", clients: [ClientSpec],
    options: MachineOptions = MachineOptions(), rig: MachineRig? = nil
  ) {
    self.init(iommus: [(adapter, variant)], clients: clients, options: options, rig: rig)
  }

  /// This machine's memory, hardware and client functions, for a later machine to power on
  /// again.
  public var rig: MachineRig {
    if let wholeRig { return wholeRig }
    // Closures rather than key paths, which read with a dynamic exclusivity check.
    return MachineRig(
      memory: memory, hardware: iommus.map { $0.hardware }, clients: clients.map { $0.function },
      wiring: iommus.map { $0.wiring })
  }

  /// DMA of every stage so far.
  /// DMA of one stage so far.
  public func stats(of stage: HandoverStage) -> DMAStats { stageTotals[stage.index] }

  public var totalStats: DMAStats {
    var total = DMAStats()
    for s in stageTotals { total += s }
    return total
  }

  // MARK: DMA

  /// Every running engine issues `count` transactions through its IOMMU as it is right now.
  public func sampleDMA(_ count: Int = 1) {
    // `canMaster` once per transaction: the loop's guard also stops a client that cannot.
    for client in clients {
      guard count > 0, client.canMaster, var tx = client.engine.next() else { continue }
      // What each transaction of the burst uses of the client, loaded once: a reference
      // counted per burst, not two per transaction.
      let hardware = client.hardware ?? iommus[client.iommuIndex].hardware
      let payload = client.engine.payload
      var issued = 1
      while true {
        perform(tx, from: client, through: hardware, payload: payload)
        guard issued < count, client.canMaster, let next = client.engine.next() else { break }
        tx = next
        issued += 1
      }
    }
  }

  private func perform(
    _ tx: DMATransaction, from client: MachineClient, through hardware: any IOMMUHardwareModel,
    payload: [UInt8]
  ) {
    // noteDMA() records only DMA after the device's shutdown: the state is checked here, so a
    // running device is not retained for a call on every transaction.
    if let device = client.device {
      switch device.state {
      case .shutDown, .removed: device.noteDMA(bytes: tx.length)
      default: break
      }
    }
    let route = hardware.route(streamID: client.streamID, address: tx.iova, isWrite: tx.isWrite)
    // Each path counts only the counters it sets (adding whole DMAStats three times a
    // transaction cost more than the rest of the accounting).
    let physical: UInt64
    let translated: Bool
    switch route {
    case .blocked:
      record(client) {
        $0.transactions += 1
        $0.blocked += 1
      }
      return
    case .translated(let pa):
      translated = true
      physical = pa
    case .bypassed(let pa):
      translated = false
      physical = pa
    }
    // Owners compared by number: no owner (and its strings) copied per transaction.
    guard let owner = memory.ownerID(ofBacked: physical, length: tx.length, hint: &client.engine.regionHint) else {
      record(client) {
        $0.countRouted(translated: translated)
        $0.unbacked += 1
      }
      return
    }
    // A whole page (the accelerator's transfers) shares the memory's one copy of the payload
    // instead of copying 4 KiB; other lengths are written as usual.
    if tx.isWrite { try? memory.writePage(payload, at: physical) }
    if owner == client.bufferOwner && physical == tx.intended {
      record(client) {
        $0.countRouted(translated: translated)
        $0.delivered += 1
      }
    } else if !tx.isWrite {
      record(client) {
        $0.countRouted(translated: translated)
        $0.strayReads += 1
      }
    } else {
      var s = DMAStats()
      s.countRouted(translated: translated)
      classify(memory.owner(owner), bytes: tx.length, into: &s)
      record(client) { $0 += s }
    }
  }

  /// Whose memory a stray write hit.
  private func classify(_ owner: MemoryOwner, bytes: Int, into s: inout DMAStats) {
    let label: String
    switch owner {
    case .firmware, .free:
      s.corruptedFirmwareBytes += bytes
      return
    case .crashReservation:
      s.corruptedCrashKernelBytes += bytes
      return
    case .kernel(let k): label = k
    case .deviceBuffer(let d): label = String(d.prefix { $0 != ":" })
    }
    switch label {
    case "new": s.corruptedNewKernelBytes += bytes
    case "crash": s.corruptedCrashKernelBytes += bytes
    // The old kernel's memory is the dump after a crash; after kexec it is the next kernel's.
    default:
      if scenario == .kdump {
        s.corruptedDumpBytes += bytes
      } else {
        s.corruptedNewKernelBytes += bytes
      }
    }
  }

  /// Counts a transaction in its stage, its client's run and its client's last stage.
  @inline(__always)
  private func record(_ client: MachineClient, _ count: (inout DMAStats) -> Void) {
    count(&stageTotals[stage.index])
    count(&client.stats)
    count(&client.finalStageStats)
  }

  // MARK: Timeline

  func event(_ actor: @autoclosure () -> String, _ text: @autoclosure () -> String) {
    guard options.recordTimeline else { return }
    flushLogs()
    timeline.append(TimelineEvent(microseconds: clock.microseconds, actor: actor(), text: text()))
  }

  func noteRegisterWrite(iommu: MachineIOMMU, offset: Int) {
    guard options.recordTimeline else { return }
    let name = iommu.hardware.registers.definition(at: offset)?.name ?? hex(offset, digits: 4)
    registerWrites[iommu.hardware.name, default: [:]][name, default: 0] += 1
  }

  /// Enters `next`: closes the current stage with its log lines, register writes and DMA.
  func enter(_ next: HandoverStage) {
    closeStage()
    stage = next
    for client in clients { client.finalStageStats = DMAStats() }
    event("machine", "-- \(next.rawValue)")
  }

  /// Moves the kernels' new log lines into the timeline.
  func flushLogs() {
    for (k, _) in kernels {
      let id = ObjectIdentifier(k)
      let seen = loggedLines[id, default: 0]
      for line in k.log.entries.dropFirst(seen) {
        timeline.append(
          TimelineEvent(microseconds: line.timestampMicroseconds, actor: k.name, text: line.text))
      }
      loggedLines[id] = k.log.entries.count
    }
  }

  func closeStage() {
    guard options.recordTimeline else { return }
    flushLogs()
    for (iommu, counts) in registerWrites.sorted(by: { $0.key < $1.key }) {
      let total = counts.values.reduce(0, +)
      let sorted = counts.sorted { $0.value == $1.value ? $0.key < $1.key : $0.value > $1.value }
      var detail = sorted.prefix(8).map { "\($0.key)×\($0.value)" }.joined(separator: " ")
      if sorted.count > 8 { detail += " and \(sorted.count - 8) more registers" }
      event(iommu, "\(total) register writes: \(detail)")
    }
    registerWrites = [:]
    let s = stageTotals[stage.index]
    if s.transactions > 0 { event("DMA", s.summary) }
  }
}
