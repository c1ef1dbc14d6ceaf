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
    var out: [(() -> any HandoverIOMMU, HandoverScenario, String, [ClientSpec])] = []
    for make in adapters {
      let probe = make()
      var variants = probe.variants
      if probe.kernelList != nil { variants.append(Machine.kernelListPolicy) }
      for scenario in HandoverScenario.allCases {
        for variant in variants {
          for clients in ClientSpec.quiescingCombinations(of: kinds) {
            out.append((make, scenario, variant, clients))
          }
        }
      }
    }
    return out
  }

  /// Runs every combination; a combination whose setup fails is left out and named in `errors`.
  public func run() -> (rows: [MatrixRow], errors: [String]) {
    var rows: [MatrixRow] = []
    var errors: [String] = []
    // One rig per IOMMU, powered on again for each of its handovers.
    for c in combinations {
      let adapter = c.adapter()
      do throws(HandoverError) {
        let (outcome, used) = try runHandoverKeepingRig(
          adapter: adapter, scenario: c.scenario, variant: c.variant, clients: c.clients, options: options,
          rig: reuseHardware ? rigs.rigs[adapter.name] : nil)
        if reuseHardware { rigs.rigs[adapter.name] = used }
        rows.append(outcome.row)
      } catch {
        errors.append("\(c.scenario) \(c.variant) \(c.clients.specText): \(error)")
      }
    }
    return (rows, errors)
  }
}

/// The rigs a matrix keeps between runs, by IOMMU name.
final class RigCache {
  // Read and stored once per run, plain accesses: no dynamic exclusivity checks.
  @exclusivity(unchecked) var rigs: [String: MachineRig] = [:]
}
