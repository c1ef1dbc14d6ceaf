/// The policy matrix: every IOMMU, scenario, variant (the kernel-list policy included where an
/// adapter supports it) and way of quiescing the clients, one handover each.
public struct HandoverMatrix {
  public var adapters: [() -> any HandoverIOMMU]
  public var kinds: [ClientKind]
  public var options: MachineOptions
  /// Power the same memory and hardware models on again between handovers of one IOMMU
  /// (`powerOnReset()`), instead of building them anew.
  public var reuseHardware = true
  /// Each IOMMU's rig, kept from one run of this matrix to the next (the benchmark runs it
  /// over and over): hardware is built once per IOMMU, then only powered on again.
  private let rigs = RigCache()

  /// `adapters` are factories: each handover gets a fresh adapter and machine.
  public init(
    adapters: [() -> any HandoverIOMMU], kinds: [ClientKind] = ClientKind.allCases,
    options: MachineOptions = MachineOptions()
  ) {
    self.adapters = adapters
    self.kinds = kinds
    var o = options
    o.recordTimeline = false
    o.keepKernelLogs = false
    self.options = o
  }

  /// The combinations, in row order.
  public var combinations:
    [(adapter: () -> any HandoverIOMMU, scenario: HandoverScenario, variant: String, clients: [ClientSpec])]
  {
    // Built with the labels of the result (an unlabelled list would be copied over to it), and
    // the client sets once: every IOMMU, scenario and variant shares them.
    var out: [(adapter: () -> any HandoverIOMMU, scenario: HandoverScenario, variant: String, clients: [ClientSpec])] =
      []
    let clientSets = ClientSpec.quiescingCombinations(of: kinds)
    for make in adapters {
      let probe = make()
      var variants = probe.variants
      if probe.kernelList != nil { variants.append(Machine.kernelListPolicy) }
      out.reserveCapacity(out.count + HandoverScenario.allCases.count * variants.count * clientSets.count)
      for scenario in HandoverScenario.allCases {
        for variant in variants {
          for clients in clientSets {
            out.append((make, scenario, variant, clients))
          }
        }
      }
    }
    return out
  }

  /// Runs every combination; a combination whose setup fails is left out and named in `errors`.
  public func run() -> (rows: [MatrixRow], errors: [String]) {
    let combinations = combinations
    var rows: [MatrixRow] = []
    rows.reserveCapacity(combinations.count)
    var errors: [String] = []
    // One rig per IOMMU, powered on again for each of its handovers. The combinations come
    // grouped by IOMMU: the current one's rig is kept at hand, and put back in `rigs` when the
    // next IOMMU starts and at the end (not looked up by name for every handover).
    var current: (name: String, rig: MachineRig?)?
    for c in combinations {
      let adapter = c.adapter()
      let name = adapter.name
      if current?.name != name {
        if reuseHardware, let current, let rig = current.rig { rigs.rigs[current.name] = rig }
        current = (name, reuseHardware ? rigs.rigs[name] : nil)
      }
      do throws(HandoverError) {
        let (row, used) = try runHandoverRowKeepingRig(
          adapter: adapter, scenario: c.scenario, variant: c.variant, clients: c.clients, options: options,
          rig: current?.rig)
        if reuseHardware { current?.rig = used }
        rows.append(row)
      } catch {
        errors.append("\(c.scenario) \(c.variant) \(c.clients.specText): \(error)")
      }
    }
    if reuseHardware, let current, let rig = current.rig { rigs.rigs[current.name] = rig }
    return (rows, errors)
  }
}

/// The rigs a matrix keeps between runs, by IOMMU name.
final class RigCache {
  // Read and stored once per run, plain accesses: no dynamic exclusivity checks.
  @exclusivity(unchecked) var rigs: [String: MachineRig] = [:]
}
