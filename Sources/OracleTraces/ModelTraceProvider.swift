/// Produces a model's trace of one scenario in the canonical form, for `trace-compare`.
///
/// The providers of the driver models live in the `ModelTraces` module
/// (`modelTraceProvidersOfDrivers`), registered in the CLI's `modelTraceProviders`.
public struct ModelTraceProvider: Sendable {
  public var device: OracleDevice
  public var scenarios: [OracleScenario]
  /// The canonical trace text of a scenario (see `CanonicalTrace`).
  public var trace: @Sendable (OracleScenario) throws -> String

  public init(
    device: OracleDevice, scenarios: [OracleScenario], trace: @escaping @Sendable (OracleScenario) throws -> String
  ) {
    self.device = device
    self.scenarios = scenarios
    self.trace = trace
  }
}

/// A lookup of model trace providers by device and scenario.
public struct ModelTraceRegistry: Sendable {
  public var providers: [ModelTraceProvider]

  public init(_ providers: [ModelTraceProvider]) { self.providers = providers }

  /// The provider for a device and scenario, if a driver registered one.
  public func provider(for device: OracleDevice, scenario: OracleScenario) -> ModelTraceProvider? {
    providers.first { $0.device == device && $0.scenarios.contains(scenario) }
  }
}
