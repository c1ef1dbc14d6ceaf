import IOMMURegisters
import MMIO

/// A register value with every field decoded by its specification mnemonic.
public struct RegisterReport: Sendable, Hashable, Encodable {
  public var name: String
  public var raw: String
  public var fields: [DecodedField]

  public init<R: Register>(_ register: R) {
    name = R.name
    raw = hex(register.raw, digits: R.width.rawValue * 2)
    fields = register.decodedFields
  }
}

/// One IOMMU the kernel registered: an entry of /sys/class/iommu.
public struct IOMMUUnitReport: Sendable, Hashable, Encodable {
  /// `dmar0`, `ivhd0`, `smmu3.0x0000000009050000`, `riscv-iommu@...`.
  public var name: String
  /// `intel-iommu`, `amd-iommu`, `arm-smmu-v3`, `arm-smmu`, `riscv-iommu`, or `unknown`.
  public var driver: String
  /// The sysfs directory the facts come from.
  public var path: String
  /// Devices the unit translates for (its `devices/` links), sorted.
  public var devices: [String]
  public var intel: IntelUnit?
  public var amd: AMDUnit?
  /// Attributes that exist but could not be read or parsed.
  public var problems: [String]

  /// `intel-iommu/` attributes (drivers/iommu/intel/iommu.c, Linux 7.2).
  public struct IntelUnit: Sendable, Hashable, Encodable {
    /// Register base (`address`), `0x` hex.
    public var address: String?
    /// `version`, "major:minor".
    public var version: String?
    public var cap: RegisterReport?
    public var ecap: RegisterReport?
    public var domainsSupported: UInt64?
    public var domainsUsed: UInt64?
    /// The DMAR table's DRHD with this unit's register base, when the table was readable.
    public var drhd: String?
    /// Facts derived from CAP/ECAP the way the driver derives them.
    public var derived: [String: String]
  }

  /// `amd-iommu/` attributes (drivers/iommu/amd/init.c, Linux 7.2).
  public struct AMDUnit: Sendable, Hashable, Encodable {
    /// The IOMMU capability header (`cap`, "%x").
    public var cap: RegisterReport?
    /// How `features` was laid out: `efr` (one value, older kernels), `efr2:efr` or `efr:efr2`.
    public var featuresFormat: String?
    public var efr: RegisterReport?
    public var efr2: String?
  }
}

/// Reads /sys/class/iommu.
enum IOMMUUnits {
  static func read(sysfsRoot: String, kernelRelease: String?) -> (units: [IOMMUUnitReport], error: HostFileError?) {
    let classDir = sysfsRoot + "/class/iommu"
    let names: [String]
    switch HostFiles.list(classDir) {
    case .success(let n): names = n
    case .failure(let e): return ([], e == .absent ? nil : e)
    }
    let units = names.map { name -> IOMMUUnitReport in
      let path = classDir + "/" + name
      var unit = IOMMUUnitReport(
        name: name, driver: driverName(name, path: path), path: path,
        devices: (try? HostFiles.list(path + "/devices").get()) ?? [], problems: [])
      if unit.driver == "intel-iommu" { unit.intel = intel(path + "/intel-iommu", problems: &unit.problems) }
      if unit.driver == "amd-iommu" {
        unit.amd = amd(path + "/amd-iommu", kernelRelease: kernelRelease, problems: &unit.problems)
      }
      return unit
    }
    return (units, nil)
  }

  /// The driver behind a unit, from its attribute group or the name the driver gives it
  /// (`smmu3.%pa` for arm-smmu-v3, `smmu.%pa` for arm-smmu, `riscv-iommu@...` for riscv).
  static func driverName(_ name: String, path: String) -> String {
    if HostFiles.exists(path + "/intel-iommu") { return "intel-iommu" }
    if HostFiles.exists(path + "/amd-iommu") { return "amd-iommu" }
    if name.hasPrefix("smmu3.") { return "arm-smmu-v3" }
    if name.hasPrefix("smmu.") { return "arm-smmu" }
    if name.hasPrefix("riscv-iommu") { return "riscv-iommu" }
    return "unknown"
  }

  static func hexValue(_ text: String) -> UInt64? {
    let t = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
    return UInt64(t, radix: 16)
  }

  private static func attribute(_ path: String, _ problems: inout [String]) -> String? {
    switch HostFiles.text(path) {
    case .success(let s): return s
    case .failure(.absent): return nil
    case .failure(let e):
      problems.append("\(path): \(e)")
      return nil
    }
  }

  static func intel(_ dir: String, problems: inout [String]) -> IOMMUUnitReport.IntelUnit {
    var unit = IOMMUUnitReport.IntelUnit(derived: [:])
    if let a = attribute(dir + "/address", &problems) {
      if let v = hexValue(a) { unit.address = hex(v) } else { problems.append("address: cannot parse '\(a)'") }
    }
    unit.version = attribute(dir + "/version", &problems)
    if let c = attribute(dir + "/cap", &problems) {
      if let v = hexValue(c) {
        let cap = VTdCapability(raw: v)
        unit.cap = RegisterReport(cap)
        unit.derived["domains"] = String(cap.domainCount)
        unit.derived["mgawBits"] = String(cap.maxGuestAddressWidth)
        unit.derived["secondStageLevels"] = cap.secondStageLevels.map(String.init).joined(separator: ",")
        unit.derived["faultRecordingOffset"] = hex(cap.faultRecordingOffset)
        unit.derived["faultRecordingCount"] = String(cap.faultRecordingCount)
      } else {
        problems.append("cap: cannot parse '\(c)'")
      }
    }
    if let e = attribute(dir + "/ecap", &problems) {
      if let v = hexValue(e) {
        let ecap = VTdExtendedCapability(raw: v)
        unit.ecap = RegisterReport(ecap)
        unit.derived["iotlbRegisterOffset"] = hex(ecap.iotlbRegisterOffset)
        unit.derived["interruptRemapping"] = ecap.interruptRemapping ? "supported" : "not supported"
        unit.derived["scalableMode"] = ecap.scalableMode ? "supported" : "not supported"
      } else {
        problems.append("ecap: cannot parse '\(e)'")
      }
    }
    unit.domainsSupported = attribute(dir + "/domains_supported", &problems).flatMap { UInt64($0) }
    unit.domainsUsed = attribute(dir + "/domains_used", &problems).flatMap { UInt64($0) }
    return unit
  }

  /// Reads `cap` and `features`. `features` was `"%llx"` (EFR) until Linux 5.x, then
  /// `"%llx:%llx"` with EFR2 first, and since the EFR/EFR2 consolidation (Linux 6.6) EFR first.
  static func amd(_ dir: String, kernelRelease: String?, problems: inout [String]) -> IOMMUUnitReport.AMDUnit {
    var unit = IOMMUUnitReport.AMDUnit()
    if let c = attribute(dir + "/cap", &problems) {
      if let v = hexValue(c), v <= UInt32.max {
        unit.cap = RegisterReport(AMDIOMMUCapabilityHeader(raw: UInt32(v)))
      } else {
        problems.append("cap: cannot parse '\(c)'")
      }
    }
    if let f = attribute(dir + "/features", &problems) {
      let parts = f.split(separator: ":").map(String.init)
      if parts.count == 1, let efr = hexValue(parts[0]) {
        unit.featuresFormat = "efr"
        unit.efr = RegisterReport(AMDExtendedFeatures(raw: efr))
      } else if parts.count == 2, let a = hexValue(parts[0]), let b = hexValue(parts[1]) {
        let efrFirst = efrFirst(kernelRelease)
        unit.featuresFormat = efrFirst ? "efr:efr2" : "efr2:efr"
        unit.efr = RegisterReport(AMDExtendedFeatures(raw: efrFirst ? a : b))
        unit.efr2 = hex(efrFirst ? b : a, digits: 16)
      } else {
        problems.append("features: cannot parse '\(f)'")
      }
    }
    return unit
  }

  /// Whether the two-value `features` file holds EFR first: kernels from 6.6 on (or an unknown
  /// release, taken to be current).
  static func efrFirst(_ release: String?) -> Bool {
    guard let release else { return true }
    let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard numbers.count == 2 else { return true }
    return (numbers[0], numbers[1]) >= (6, 6)
  }
}
