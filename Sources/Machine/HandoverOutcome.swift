import DeviceCore
import Kernel

/// One row of the policy matrix: exactly the columns (and JSON keys) issue 8 lists.
public struct MatrixRow: Sendable, Hashable, Codable {
  public var iommu: String
  public var scenario: String
  public var variant: String
  public var clients: String
  public var corruptedNewKernelBytes: Int
  public var corruptedCrashKernelBytes: Int
  public var corruptedDumpBytes: Int
  public var unbackedTransactions: Int
  public var blockedTransactions: Int
  public var faults: Int
  public var devicesRecovered: Int
  public var devicesLost: Int
  /// The next kernel's IOMMU probe: `0` or the errno (`-EBUSY`); one per IOMMU, `;`-separated.
  public var initResult: String
  public var orderingViolations: Int

  public static let columns = [
    "iommu", "scenario", "variant", "clients", "corruptedNewKernelBytes",
    "corruptedCrashKernelBytes", "corruptedDumpBytes", "unbackedTransactions",
    "blockedTransactions", "faults", "devicesRecovered", "devicesLost", "initResult",
    "orderingViolations",
  ]

  /// The row's values as text, in ``columns`` order.
  public var values: [String] {
    [
      iommu, scenario, variant, clients, "\(corruptedNewKernelBytes)", "\(corruptedCrashKernelBytes)",
      "\(corruptedDumpBytes)", "\(unbackedTransactions)", "\(blockedTransactions)", "\(faults)",
      "\(devicesRecovered)", "\(devicesLost)", initResult, "\(orderingViolations)",
    ]
  }
}

/// What one handover did.
public struct HandoverOutcome: Sendable {
  public var row: MatrixRow
  /// All DMA of the run, and per stage.
  public var dma: DMAStats
  public var stages: [(stage: HandoverStage, dma: DMAStats)]
  /// Per client: name, whether its driver quiesced it, whether it works in the next kernel.
  public var clients: [(name: String, quiesced: Bool, works: Bool, dma: DMAStats)]
  /// Simulated time the next kernel's boot spent in poll loops and delays (nothing else
  /// advances the clock), and the whole handover's.
  public var nextKernelPollingMicroseconds: UInt64
  public var handoverMicroseconds: UInt64
  public var violations: [String]
  public var timeline: [TimelineEvent]
}

extension Machine {
  /// The outcome so far (call after ``runNextKernel()``).
  public func outcome(faultsBefore: [Int], handoverStart: UInt64, nextBootStart: UInt64, nextBootEnd: UInt64)
    -> HandoverOutcome
  {
    let dma = totalStats
    let working = clients.map { works($0) }
    let violations = orderingViolations
    let recovered = working.count { $0 }
    let row = row(faultsBefore: faultsBefore, dma: dma, recovered: recovered, orderingViolations: violations.count)
    var stages: [(stage: HandoverStage, dma: DMAStats)] = []
    stages.reserveCapacity(HandoverStage.allCases.count)
    for s in HandoverStage.allCases where stageTotals[s.index].transactions > 0 {
      stages.append((s, stageTotals[s.index]))
    }
    return HandoverOutcome(
      row: row, dma: dma,
      stages: stages,
      clients: zip(clients, working).map { ($0.name, $0.spec.quiesced, $1, $0.stats) },
      nextKernelPollingMicroseconds: (nextBootEnd - nextBootStart) / 1_000,
      handoverMicroseconds: (nextBootEnd - handoverStart) / 1_000,
      violations: violations.map(\.description), timeline: timeline)
  }

  /// The matrix row of the run so far (call after ``runNextKernel()``): the outcome's row
  /// alone, without its per-stage and per-client lists, which the matrix does not read.
  func row(faultsBefore: [Int]) -> MatrixRow {
    // Counted in place: no list of who works.
    row(
      faultsBefore: faultsBefore, dma: totalStats, recovered: clients.count { works($0) },
      orderingViolations: orderingViolations.count)
  }

  /// The old kernel's shutdown-ordering violations: an IOMMU shut down before a consumer.
  private var orderingViolations: [Violation] {
    kernels.first?.core.violations.filter {
      if case .iommuShutdownBeforeConsumer = $0 { return true }
      return false
    } ?? []
  }

  /// Whether `c` works in the next kernel: programmed by that kernel's driver, and all of its
  /// DMA in the last stage landed in its buffers.
  private func works(_ c: MachineClient) -> Bool {
    c.engine.program?.generation == generation && c.finalStageStats.transactions > 0
      && c.finalStageStats.delivered == c.finalStageStats.transactions
  }

  /// The row, given the DMA totals, how many clients work and the ordering violations.
  private func row(faultsBefore: [Int], dma: DMAStats, recovered: Int, orderingViolations: Int) -> MatrixRow {
    var faults = 0
    for (iommu, before) in zip(iommus, faultsBefore) { faults += iommu.adapter.recordedFaults(iommu.hardware) - before }
    let result = { (i: MachineIOMMU) in (i.initResults.last ?? nil)?.description ?? "0" }
    // One IOMMU (every run but a test's): its name, variant and result as they are, nothing
    // gathered and joined.
    let single = iommus.count == 1 ? iommus[0] : nil
    let row = MatrixRow(
      iommu: single?.adapter.name ?? iommus.map { $0.adapter.name }.joined(separator: "+"),
      scenario: scenario?.rawValue ?? "-",
      variant: single?.variant ?? iommus.map { $0.variant }.joined(separator: "+"),
      clients: clients.map { $0.spec }.specText,
      corruptedNewKernelBytes: dma.corruptedNewKernelBytes,
      corruptedCrashKernelBytes: dma.corruptedCrashKernelBytes,
      corruptedDumpBytes: dma.corruptedDumpBytes, unbackedTransactions: dma.unbacked,
      blockedTransactions: dma.blocked, faults: faults,
      devicesRecovered: recovered, devicesLost: clients.count - recovered,
      initResult: single.map(result) ?? iommus.map(result).joined(separator: ";"),
      orderingViolations: orderingViolations)
    return row
  }

  /// Runs a whole handover: the old kernel boots and runs, hands over by `scenario`, the next
  /// kernel boots and runs.
  public func runHandover(_ scenario: HandoverScenario) throws(HandoverError) -> HandoverOutcome {
    let run = try runStages(scenario)
    return outcome(
      faultsBefore: run.faultsBefore, handoverStart: run.handoverStart, nextBootStart: run.bootStart,
      nextBootEnd: run.bootEnd)
  }

  /// ``runHandover(_:)`` giving only its matrix row (see ``row(faultsBefore:)``).
  func runHandoverRow(_ scenario: HandoverScenario) throws(HandoverError) -> MatrixRow {
    try row(faultsBefore: runStages(scenario).faultsBefore)
  }

  /// The stages of a handover, with the faults and times on the way that its outcome reports.
  private func runStages(_ scenario: HandoverScenario) throws(HandoverError) -> (
    faultsBefore: [Int], handoverStart: UInt64, bootStart: UInt64, bootEnd: UInt64
  ) {
    try bootOldKernel()
    runOldKernel()
    let faultsBefore = iommus.map { $0.adapter.recordedFaults($0.hardware) }
    let handoverStart = clock.nanoseconds
    handOver(scenario)
    let bootStart = clock.nanoseconds
    try bootNextKernel()
    let bootEnd = clock.nanoseconds
    runNextKernel()
    return (faultsBefore, handoverStart, bootStart, bootEnd)
  }
}

/// One handover on a fresh machine.
public func runHandover(
  adapter: any HandoverIOMMU, scenario: HandoverScenario, variant: String = "kernel",
  clients: [ClientSpec] = ClientSpec.defaults, options: MachineOptions = MachineOptions(),
  rig: MachineRig? = nil
) throws(HandoverError) -> HandoverOutcome {
  try runHandoverKeepingRig(
    adapter: adapter, scenario: scenario, variant: variant, clients: clients, options: options, rig: rig
  ).outcome
}

/// ``runHandover(adapter:scenario:variant:clients:options:rig:)``, also returning the machine's
/// rig for the next run.
public func runHandoverKeepingRig(
  adapter: any HandoverIOMMU, scenario: HandoverScenario, variant: String = "kernel",
  clients: [ClientSpec] = ClientSpec.defaults, options: MachineOptions = MachineOptions(),
  rig: MachineRig? = nil
) throws(HandoverError) -> (outcome: HandoverOutcome, rig: MachineRig) {
  try checkVariant(variant, of: adapter)
  let machine = Machine(adapter: adapter, variant: variant, clients: clients, options: options, rig: rig)
  return (try machine.runHandover(scenario), machine.rig)
}

/// ``runHandoverKeepingRig(adapter:scenario:variant:clients:options:rig:)`` giving only the
/// outcome's row: what the matrix keeps of each handover.
func runHandoverRowKeepingRig(
  adapter: any HandoverIOMMU, scenario: HandoverScenario, variant: String, clients: [ClientSpec],
  options: MachineOptions, rig: MachineRig?
) throws(HandoverError) -> (row: MatrixRow, rig: MachineRig) {
  try checkVariant(variant, of: adapter)
  let machine = Machine(adapter: adapter, variant: variant, clients: clients, options: options, rig: rig)
  return (try machine.runHandoverRow(scenario), machine.rig)
}

/// Throws unless `adapter` has `variant` (the kernel-list policy where it supports it).
private func checkVariant(_ variant: String, of adapter: any HandoverIOMMU) throws(HandoverError) {
  guard variant == Machine.kernelListPolicy ? adapter.kernelList != nil : adapter.variants.contains(variant)
  else {
    var known = adapter.variants
    if adapter.kernelList != nil { known.append(Machine.kernelListPolicy) }
    throw HandoverError("\(adapter.name) has no variant '\(variant)'; known: \(known.joined(separator: ", "))")
  }
}
