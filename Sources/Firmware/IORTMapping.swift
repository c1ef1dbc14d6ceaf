/// An ID after translation through the table: the node reached and the ID it sees there.
public struct IORTMappedID: Sendable, Hashable {
  public var node: IORTNode
  public var id: UInt32

  public init(node: IORTNode, id: UInt32) {
    self.node = node
    self.id = id
  }
}

/// How one ID mapping of a named component or root complex reaches an SMMU: the SMMU node and
/// the stream IDs the mapped range becomes there.
public struct IORTIOMMUMapping: Sendable, Hashable {
  public var mapping: IORTIDMapping
  public var smmu: IORTNode
  public var streamIDs: ClosedRange<UInt64>

  public init(mapping: IORTIDMapping, smmu: IORTNode, streamIDs: ClosedRange<UInt64>) {
    self.mapping = mapping
    self.smmu = smmu
    self.streamIDs = streamIDs
  }
}

extension IORTNodeType {
  /// IORT_IOMMU_TYPE: the node types that are IOMMUs (SMMUv1/v2 and SMMUv3).
  public static let iommuTypes: Set<IORTNodeType> = [.smmu, .smmuV3]
  /// IORT_MSI_TYPE: ITS groups.
  public static let msiTypes: Set<IORTNodeType> = [.itsGroup]
}

extension IORTNode {
  /// The index of the mapping that carries the SMMUv3's (or PMCG's) own MSI device ID, which
  /// ID translation through the node skips; nil when there is none.
  /// Mirrors iort_get_id_mapping_index(), drivers/acpi/arm64/iort.c (Linux 7.2).
  public var specialMappingIndex: Int? {
    switch body {
    case .smmuV3(let s):
      guard revision >= 1 else { return nil }
      if revision < 5 {
        // Until IORT E.e the index was valid unless all interrupts are GSIV-based.
        if s.eventGSIV != 0 && s.priGSIV != 0 && s.gerrGSIV != 0 && s.syncGSIV != 0 { return nil }
      } else if !s.flags.contains(.deviceIDMappingIndexValid) {
        return nil
      }
      guard let index = s.deviceIDMappingIndex, index < mappingCount else { return nil }
      return Int(index)
    case .pmcg(let p):
      return p.overflowGSIV != 0 || mappingCount == 0 ? nil : 0
    default:
      return nil
    }
  }

  /// Whether the kernel reports "ID mapping index overflows valid mappings" for this SMMUv3.
  func mappingIndexOverflows(_ s: IORTSMMUv3) -> Bool {
    guard revision >= 1, let index = s.deviceIDMappingIndex, index >= mappingCount else { return false }
    if revision < 5 { return !(s.eventGSIV != 0 && s.priGSIV != 0 && s.gerrGSIV != 0 && s.syncGSIV != 0) }
    return s.flags.contains(.deviceIDMappingIndexValid)
  }
}

extension IORTTable {
  /// Translates `id` from `start` through the ID mappings until a node of one of `types` is
  /// reached; nil when a mapping is missing (the kernel then leaves the ID unchanged).
  /// Mirrors iort_node_map_id() and iort_id_map(), drivers/acpi/arm64/iort.c (Linux 7.2),
  /// including the off-by-one workaround for a range end that overlaps the next range's start.
  /// A cycle of references ends the walk (the kernel would spin).
  public func mapID(_ id: UInt32, from start: IORTNode, to types: Set<IORTNodeType>) -> IORTMappedID? {
    var node = start
    var id = id
    for _ in 0...nodes.count {
      if let t = node.type, types.contains(t) { return IORTMappedID(node: node, id: id) }
      guard node.mappingOffset != 0, let first = node.idMappings.first, first.outputReference != 0 else {
        return nil
      }
      let skip = node.specialMappingIndex
      let input = id
      var outRef: UInt32 = 0
      var matched: IORTIDMapping?
      for (i, map) in node.idMappings.enumerated() where i != skip {
        switch idMap(map, nodeType: node.rawType, input, overlapSeen: outRef != 0) {
        case .mapped(let out):
          id = out
          matched = map
        case .mappedAtRangeEnd(let out):
          id = out
          outRef = map.outputReference
          continue
        case .noMatch:
          continue
        }
        break
      }
      guard let next = self.node(at: matched?.outputReference ?? outRef), matched != nil || outRef != 0 else {
        return nil
      }
      node = next
    }
    return nil
  }

  private enum IDMapResult { case mapped(UInt32), mappedAtRangeEnd(UInt32), noMatch }

  /// Mirrors iort_id_map(), drivers/acpi/arm64/iort.c (Linux 7.2).
  private func idMap(_ map: IORTIDMapping, nodeType: UInt8, _ rid: UInt32, overlapSeen: Bool) -> IDMapResult {
    if map.isSingleMapping {
      // Only named components and root complexes may use a single mapping here.
      let t = IORTNodeType(rawValue: nodeType)
      return t == .namedComponent || t == .rootComplex ? .mapped(map.outputBase) : .noMatch
    }
    guard UInt64(rid) >= UInt64(map.inputBase), UInt64(rid) <= UInt64(map.inputBase) + UInt64(map.idCount) else {
      return .noMatch
    }
    // A second match is only allowed where it starts this range (the id_count off-by-one).
    if overlapSeen && rid != map.inputBase { return .noMatch }
    let out = map.outputBase &+ (rid - map.inputBase)
    if map.idCount > 0 && UInt64(rid) == UInt64(map.inputBase) + UInt64(map.idCount) { return .mappedAtRangeEnd(out) }
    return .mapped(out)
  }

  /// The SMMU and stream ID a PCI requester ID under the root complex of `segment` reaches.
  /// Mirrors the lookup of iort_pci_iommu_init() (iort_node_map_id() with IORT_IOMMU_TYPE),
  /// drivers/acpi/arm64/iort.c (Linux 7.2).
  public func streamID(forRequesterID rid: UInt16, segment: UInt32) -> IORTMappedID? {
    guard let rc = rootComplexes.first(where: { $0.rootComplex.pciSegment == segment }) else { return nil }
    return mapID(UInt32(rid), from: rc.node, to: IORTNodeType.iommuTypes)
  }

  /// The named component whose ACPI path is `name` (e.g. "\\_SB.GPU0").
  public func namedComponent(named name: String) -> IORTNode? {
    namedComponents.first { $0.component.deviceName == name }?.node
  }

  /// The (SMMU, stream ID) pairs the kernel gives a platform device: each mapping index in turn,
  /// taken only when it is a single mapping, then translated on to an SMMU if its parent is not one.
  /// Mirrors iort_nc_iommu_map() and iort_node_map_platform_id() with iort_node_get_id(),
  /// drivers/acpi/arm64/iort.c (Linux 7.2). Tables whose named components use ranged mappings
  /// (as many Qualcomm tables do) get no stream ID this way.
  public func platformStreamIDs(of component: IORTNode) -> [IORTMappedID] {
    var out: [IORTMappedID] = []
    for map in component.idMappings {
      guard map.outputReference != 0, map.isSingleMapping,
        [.namedComponent, .rootComplex, .smmuV3, .pmcg].contains(component.type),
        let parent = node(at: map.outputReference)
      else { break }
      if let t = parent.type, IORTNodeType.iommuTypes.contains(t) {
        out.append(IORTMappedID(node: parent, id: map.outputBase))
      } else if let mapped = mapID(map.outputBase, from: parent, to: IORTNodeType.iommuTypes) {
        out.append(mapped)
      } else {
        break
      }
    }
    return out
  }

  /// Every ID mapping of `node` whose output reference is an SMMU, with the stream IDs it
  /// produces there: the table's static picture, ranged and single mappings alike.
  public func iommuMappings(of node: IORTNode) -> [IORTIOMMUMapping] {
    node.idMappings.enumerated().compactMap { i, map in
      guard i != node.specialMappingIndex, let target = self.node(at: map.outputReference),
        let t = target.type, IORTNodeType.iommuTypes.contains(t)
      else { return nil }
      let ids = map.isSingleMapping ? UInt64(map.outputBase)...UInt64(map.outputBase) : map.outputRange
      return IORTIOMMUMapping(mapping: map, smmu: target, streamIDs: ids)
    }
  }
}
