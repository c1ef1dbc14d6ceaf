import DeviceCore
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// One IOMMU of a machine: its adapter, its silicon (which outlives every kernel), the policy
/// variant chosen, and the current kernel's binding to it.
public final class MachineIOMMU {
  public let adapter: any HandoverIOMMU
  public let hardware: any IOMMUHardwareModel
  /// A driver variant, or ``Machine/kernelListPolicy``.
  public let variant: String
  @exclusivity(unchecked) public internal(set) var binding: (any IOMMUBinding)?
  /// The IOMMU's probe result in each kernel, in boot order (0 or an errno).
  // Appended once per boot, read by the outcome: no dynamic exclusivity checks.
  @exclusivity(unchecked) public internal(set) var initResults: [Errno?] = []
  /// The adapter's control registers, sorted, and the stream IDs of the clients behind this
  /// IOMMU: the same for every kernel, made once.
  let controlRegisters: [Int]
  let clientStreamIDs: [UInt32]

  init(
    adapter: any HandoverIOMMU, variant: String, hardware: any IOMMUHardwareModel,
    clientStreamIDs: [UInt32]
  ) {
    self.adapter = adapter
    self.variant = variant
    self.hardware = hardware
    controlRegisters = adapter.controlRegisters.sorted()
    self.clientStreamIDs = clientStreamIDs
    // One result per kernel: the old one and the next.
    initResults.reserveCapacity(2)
  }
}

/// One client device of a machine: the silicon (its DMA engine and Bus Master Enable, which
/// survive kexec) and the `Device` the current kernel has for it.
public final class MachineClient {
  public let spec: ClientSpec
  /// `nic0`, `storage1`...: the compatible suffix and, on a platform bus, the device name.
  public let name: String
  public let streamID: UInt32
  public let iommuIndex: Int
  public let engine: DMAEngine
  /// The function's Bus Master Enable as the hardware holds it, across kernels.
  // Read for every transaction; plain stores: no dynamic exclusivity checks.
  @exclusivity(unchecked) public internal(set) var busMaster = true
  @exclusivity(unchecked) public internal(set) var device: Device?
  /// Whether the old kernel's `->shutdown()` stopped it.
  @exclusivity(unchecked) public internal(set) var quiescedByOldKernel = false
  /// DMA of this client over the whole run, and in the last stage (the verification).
  @exclusivity(unchecked) public internal(set) var stats = DMAStats()
  @exclusivity(unchecked) public internal(set) var finalStageStats = DMAStats()

  /// The bus it sits on (its IOMMU's client bus), and what every kernel's `Device` for it and
  /// its driver's match table are made of: the same in each kernel, so made once.
  let bus: BusType
  let deviceName: String
  let identity: DeviceIdentity
  let streamIDs: [UInt32]
  let matchTable: [DeviceMatch]
  /// Its IOMMU's hardware model (nil on a machine without IOMMUs), which routes every
  /// transaction: held here, not looked up through the machine's IOMMU list per transaction.
  let hardware: (any IOMMUHardwareModel)?

  init(
    spec: ClientSpec, index: Int, iommuIndex: Int, bus: BusType, hardware: (any IOMMUHardwareModel)?
  ) {
    self.spec = spec
    self.hardware = hardware
    // Names written byte by byte into strings of their exact size: interpolation appends
    // piece by piece, and these are made for every client of every machine.
    let kind = spec.kind.rawValue
    let name = asciiString(kind, decimal: index)
    self.name = name
    let sid = UInt32(0x10 + 8 * index)
    streamID = sid
    self.iommuIndex = iommuIndex
    engine = DMAEngine(kind: spec.kind)
    self.bus = bus
    streamIDs = [sid]
    switch bus {
    case .pci:
      let id = spec.kind.pciID
      identity = .pci(PCIIdentity(vendor: id.vendor, device: id.device &+ UInt16(index), classCode: id.classCode))
      // The requester ID is the stream ID: `0000:bus:device.function`.
      deviceName = String(unsafeUninitializedCapacity: 12) { out in
        func hex(_ nibble: UInt32) -> UInt8 {
          nibble < 10 ? UInt8(ascii: "0") + UInt8(nibble) : UInt8(ascii: "a") - 10 + UInt8(nibble)
        }
        for i in 0..<4 { out[i] = UInt8(ascii: "0") }
        out[4] = UInt8(ascii: ":")
        out[5] = hex(sid >> 12 & 0xf)
        out[6] = hex(sid >> 8 & 0xf)
        out[7] = UInt8(ascii: ":")
        out[8] = hex(sid >> 7 & 0x1)
        out[9] = hex(sid >> 3 & 0xf)
        out[10] = UInt8(ascii: ".")
        out[11] = hex(sid & 7)
        return 12
      }
      matchTable = [.pci(vendor: id.vendor, device: id.device &+ UInt16(index))]
    case .platform:
      let compatible = asciiString("iommu-model,", name)
      identity = .platform(compatible: [compatible], acpiHID: nil)
      deviceName = asciiString(hexDigits(0x1000_0000 + 0x1_0000 * UInt64(sid)), ".", name)
      matchTable = [.compatible(compatible)]
    }
  }

  /// DMA can leave the function: bus mastering on in the hardware, and not cleared by the
  /// current kernel's `pci_clear_master()`.
  var canMaster: Bool { busMaster && (device?.busMasterEnabled ?? true) && engine.isRunning }

  /// The owner of the buffers the engine was programmed with (`deviceBuffer("new:nic0")`), as
  /// the machine's memory numbers it: set with the program, compared on every transaction.
  // Read for every transaction, never re-entered: no dynamic exclusivity checks.
  @exclusivity(unchecked) var bufferOwner: MemoryOwnerID?
}

/// The silicon of a machine: its memory and IOMMU hardware models.
public struct MachineRig {
  public let memory: PhysicalMemory
  public let hardware: [any IOMMUHardwareModel]
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
    if let rig, rig.hardware.count == iommus.count {
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
    let clients = clients.enumerated().map {
      let iommuIndex = $0.offset % max(1, iommus.count)
      return MachineClient(
        spec: $0.element, index: $0.offset, iommuIndex: iommuIndex,
        bus: iommus.isEmpty ? .platform : iommus[iommuIndex].adapter.clientBus,
        hardware: hardware.isEmpty ? nil : hardware[iommuIndex])
    }
    self.clients = clients
    self.iommus = zip(iommus, hardware).enumerated().map { i, pair in
      var streamIDs: [UInt32] = []
      streamIDs.reserveCapacity(clients.count)
      for client in clients where client.iommuIndex == i { streamIDs.append(client.streamID) }
      return MachineIOMMU(
        adapter: pair.0.adapter, variant: pair.0.variant, hardware: pair.1, clientStreamIDs: streamIDs)
    }
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

  // A closure rather than a key path, which reads with a dynamic exclusivity check.
  /// This machine's memory and hardware, for a later machine to power on again.
  public var rig: MachineRig { MachineRig(memory: memory, hardware: iommus.map { $0.hardware }) }

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

/// `a`, `b` and `c` in one string of their exact size, copied once (client names, made for
/// every machine, without an append per piece).
func asciiString(_ a: String, _ b: String, _ c: String = "") -> String {
  var a = a
  var b = b
  var c = c
  let count = a.utf8.count + b.utf8.count + c.utf8.count
  return String(unsafeUninitializedCapacity: count) { out in
    var i = 0
    copyUTF8(&a, into: out, at: &i)
    copyUTF8(&b, into: out, at: &i)
    copyUTF8(&c, into: out, at: &i)
    return i
  }
}

/// Copies `s`'s bytes into `out` at `i` with one memory copy (iterating a `String.UTF8View`
/// costs tens of instructions a byte).
private func copyUTF8(_ s: inout String, into out: UnsafeMutableBufferPointer<UInt8>, at i: inout Int) {
  s.withUTF8 { bytes in
    guard let base = bytes.baseAddress, let target = out.baseAddress else { return }
    (target + i).update(from: base, count: bytes.count)
    i += bytes.count
  }
}

/// `prefix` followed by `value` in decimal (`nic0`, `storage12`).
func asciiString(_ prefix: String, decimal value: Int) -> String {
  guard value >= 0 else { return prefix + String(value) }
  var digits = 1
  var rest = value / 10
  while rest > 0 {
    digits += 1
    rest /= 10
  }
  var prefix = prefix
  let count = prefix.utf8.count + digits
  return String(unsafeUninitializedCapacity: count) { out in
    var i = 0
    copyUTF8(&prefix, into: out, at: &i)
    var v = value
    for j in stride(from: count - 1, through: i, by: -1) {
      out[j] = UInt8(ascii: "0") + UInt8(v % 10)
      v /= 10
    }
    return count
  }
}
