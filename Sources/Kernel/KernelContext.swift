/// What a driver can learn about the kernel it runs in: whether it is a kdump (crash) kernel,
/// the command line, and module parameters.
public struct KernelContext: Sendable, Hashable {
  /// `is_kdump_kernel()`: this kernel was started by `__crash_kexec()`.
  public var isKdumpKernel: Bool
  /// Set by `kernel_kexec()` before `device_shutdown()` (`kexec_in_progress`).
  public var kexecInProgress: Bool
  /// The kernel command line, parsed.
  public var commandLine: CommandLine
  /// Module parameters set outside the command line (as `modprobe arm-smmu disable_bypass=0`).
  public var moduleParameters: [String: String]
  /// `CONFIG_*` options the model's drivers read, with the defaults of Debian's kernels.
  public var config: KernelConfig

  public init(
    isKdumpKernel: Bool = false, commandLine: CommandLine = CommandLine(""),
    moduleParameters: [String: String] = [:], config: KernelConfig = KernelConfig()
  ) {
    self.isKdumpKernel = isKdumpKernel
    self.kexecInProgress = false
    self.commandLine = commandLine
    self.moduleParameters = moduleParameters
    self.config = config
  }

  /// A module parameter, from `module.param=value` on the command line or set directly;
  /// the module name matches with `-` and `_` interchangeable, as the kernel's parser does.
  public func moduleParameter(_ module: String, _ name: String) -> String? {
    // Drivers ask on every probe, mostly with nothing set at all: skip building the key then.
    if moduleParameters.isEmpty && commandLine.parameters.isEmpty { return nil }
    let key = "\(normalize(module)).\(name)"
    // Keys set directly may be spelled either way (`arm-smmu.disable_bypass`).
    if let v = moduleParameters.first(where: { normalize($0.key) == key || $0.key == name })?.value { return v }
    return commandLine.value(of: key)
  }

  /// A boolean module parameter (`y/n/1/0/Y/N/true/false`), or `defaultValue` when unset.
  public func boolParameter(_ module: String, _ name: String, default defaultValue: Bool) -> Bool {
    guard let v = moduleParameter(module, name) else { return defaultValue }
    return parseBool(v) ?? defaultValue
  }

  /// The default domain type `iommu_subsys_init()` picks from the command line and config.
  public var defaultDomainType: DefaultDomainType {
    // Early parameters are parsed in command-line order; each one overwrites the last.
    var passthrough = config.iommuDefaultPassthrough
    var strict = config.iommuDefaultDMAStrict
    for (key, value) in commandLine.parameters {
      switch key {
      case "iommu.passthrough": if let v = value.flatMap(parseBool) { passthrough = v }
      case "iommu.strict": if let v = value.flatMap(parseBool) { strict = v }
      case "iommu":
        let words = (value ?? "").split(separator: ",")
        if words.contains("pt") { passthrough = true }
        if words.contains("nopt") { passthrough = false }
      default: break
      }
    }
    if passthrough { return .identity }
    return strict ? .dma : .dmaFQ
  }
}

/// `iommu_def_domain_type` and its printed name (`Default domain type: Translated`).
public enum DefaultDomainType: String, Sendable, Hashable, CaseIterable {
  case identity = "Passthrough"
  case dma = "Translated"
  case dmaFQ = "Translated (lazy)"
}

/// Build-time options that change driver behaviour, with the upstream Kconfig defaults.
public struct KernelConfig: Sendable, Hashable {
  /// `CONFIG_ARM_SMMU_DISABLE_BYPASS_BY_DEFAULT` (default y).
  public var armSMMUDisableBypassByDefault = true
  /// `CONFIG_ARM_SMMU_MMU_500_CPRE_ERRATA` (default y).
  public var armSMMUMMU500CPREErrata = true
  /// `CONFIG_INTEL_IOMMU_DEFAULT_ON` (default y since v6.8 in most configs).
  public var intelIOMMUDefaultOn = true
  /// `CONFIG_IOMMU_DEFAULT_PASSTHROUGH` (default n).
  public var iommuDefaultPassthrough = false
  /// `CONFIG_IOMMU_DEFAULT_DMA_STRICT` (default n: lazy).
  public var iommuDefaultDMAStrict = false
  /// `CONFIG_CPU_BIG_ENDIAN` (n on every architecture the model covers).
  public var cpuBigEndian = false
  public init() {}
}

/// The kernel command line: `key=value` and bare flags, in order, last one wins.
public struct CommandLine: Sendable, Hashable, CustomStringConvertible {
  public let text: String
  public let parameters: [(key: String, value: String?)]

  public init(_ text: String) {
    self.text = text
    // Most kernels boot with an empty command line: nothing to split.
    guard !text.isEmpty else {
      parameters = []
      return
    }
    parameters = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map { word in
      guard let eq = word.firstIndex(of: "=") else { return (normalizeKey(word), nil) }
      return (normalizeKey(word[..<eq]), String(word[word.index(after: eq)...]))
    }
  }

  /// The last value given for `key` (`intel_iommu`), or nil. A bare flag gives "".
  public func value(of key: String) -> String? {
    if parameters.isEmpty { return nil }
    let k = normalizeKey(Substring(key))
    guard let p = parameters.last(where: { $0.key == k }) else { return nil }
    return p.value ?? ""
  }

  /// Whether `key` appears at all.
  public func contains(_ key: String) -> Bool { value(of: key) != nil }

  public var description: String { text }

  public static func == (a: CommandLine, b: CommandLine) -> Bool { a.text == b.text }
  public func hash(into h: inout Hasher) { h.combine(text) }
}

private func normalize(_ module: String) -> String { module.replacingOccurrences("-", "_") }

private func normalizeKey(_ key: Substring) -> String {
  // The kernel treats '-' and '_' alike in parameter names, not in values.
  String(key).replacingOccurrences("-", "_")
}

/// The kernel's `kstrtobool` (first character decides).
public func parseBool(_ s: String) -> Bool? {
  switch s.lowercased() {
  case "y", "yes", "1", "on", "true": return true
  case "n", "no", "0", "off", "false": return false
  default: return nil
  }
}

extension String {
  func replacingOccurrences(_ a: Character, _ b: Character) -> String {
    // Most names have nothing to replace: return them as they are, without a copy.
    guard contains(a) else { return self }
    return String(map { $0 == a ? b : $0 })
  }
}
