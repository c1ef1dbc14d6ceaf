/// The adapters of the real drivers, by command-line name, in matrix order.
public enum HandoverAdapters {
  public static var all: [(name: String, make: @Sendable () -> any HandoverIOMMU)] {
    [
      ("smmuv2", { ARMSMMUAdapter() }),
      ("smmuv3", { ARMSMMUv3Adapter() }),
      ("vtd", { IntelIOMMUAdapter() }),
      ("riscv", { RISCVIOMMUAdapter() }),
    ]
  }

  /// The adapter named `name`, fresh.
  public static func named(_ name: String) -> (any HandoverIOMMU)? {
    all.first { $0.name == name }?.make()
  }
}
