import OracleTraces

/// The model trace providers of the three devices the oracle captures.
public let modelTraceProvidersOfDrivers = [
  RISCVIOMMUScenarios.provider, ARMSMMUv3Scenarios.provider, IntelIOMMUScenarios.provider,
]
