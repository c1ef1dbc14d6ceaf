/// One IOMMU group: /sys/kernel/iommu_groups/N.
public struct IOMMUGroupReport: Sendable, Hashable, Encodable {
  public var id: Int
  /// The default domain type (`DMA`, `DMA-FQ`, `identity`, `blocked`, `unmanaged`): what the
  /// kernel set up, not what a VFIO user may have attached since.
  public var defaultDomain: String?
  /// Member devices, sorted.
  public var devices: [String]
  public var reservedRegions: [ReservedRegion]

  /// A `reserved_regions` line: `0x00000000fee00000 0x00000000feefffff msi`.
  public struct ReservedRegion: Sendable, Hashable, Encodable {
    public var start: String
    public var end: String
    public var type: String
  }
}

enum IOMMUGroups {
  static func read(sysfsRoot: String) -> (groups: [IOMMUGroupReport], error: HostFileError?) {
    let dir = sysfsRoot + "/kernel/iommu_groups"
    let names: [String]
    switch HostFiles.list(dir) {
    case .success(let n): names = n
    case .failure(let e): return ([], e == .absent ? nil : e)
    }
    let groups = names.compactMap { name -> IOMMUGroupReport? in
      guard let id = Int(name) else { return nil }
      let path = dir + "/" + name
      let regions = ((try? HostFiles.text(path + "/reserved_regions").get()) ?? "")
        .split(separator: "\n").compactMap { line -> IOMMUGroupReport.ReservedRegion? in
          let f = line.split(separator: " ")
          guard f.count >= 3 else { return nil }
          return .init(start: String(f[0]), end: String(f[1]), type: String(f[2]))
        }
      return IOMMUGroupReport(
        id: id, defaultDomain: try? HostFiles.text(path + "/type").get(),
        devices: (try? HostFiles.list(path + "/devices").get()) ?? [], reservedRegions: regions)
    }
    return (groups.sorted { $0.id < $1.id }, nil)
  }
}
