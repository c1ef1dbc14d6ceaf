/// The Arm IO Remapping Table (Arm DEN 0049), as `drivers/acpi/arm64/iort.c` reads it: nodes
/// (ITS groups, named components, root complexes, SMMUs, PMCGs, RMRs) linked by ID mappings.
public struct IORTTable: Sendable, Hashable {
  public static let signature = "IORT"
  /// Header (36 bytes) + node count, node offset, reserved.
  public static let headerLength = 48

  public var header: ACPITableHeader
  public var nodeCount: UInt32
  public var nodeOffset: UInt32
  /// The nodes in table order; `node(at:)` finds one by the offset an ID mapping refers to.
  public var nodes: [IORTNode]
  public var findings: [FirmwareFinding]

  /// The node that starts at `offset` (an output reference), if any.
  public func node(at offset: UInt32) -> IORTNode? {
    // Nodes are stored in table order, so their offsets increase: search by halves.
    var low = 0
    var high = nodes.count
    while low < high {
      let mid = (low + high) / 2
      let o = nodes[mid].offset
      if o == Int(offset) { return nodes[mid] }
      if o < Int(offset) { low = mid + 1 } else { high = mid }
    }
    return nil
  }

  /// SMMUv1/v2 nodes.
  public var smmus: [(node: IORTNode, smmu: IORTSMMU)] {
    nodes.compactMap { n in if case .smmu(let s) = n.body { (n, s) } else { nil } }
  }
  /// SMMUv3 nodes.
  public var smmuV3s: [(node: IORTNode, smmu: IORTSMMUv3)] {
    nodes.compactMap { n in if case .smmuV3(let s) = n.body { (n, s) } else { nil } }
  }
  public var namedComponents: [(node: IORTNode, component: IORTNamedComponent)] {
    nodes.compactMap { n in if case .namedComponent(let c) = n.body { (n, c) } else { nil } }
  }
  public var rootComplexes: [(node: IORTNode, rootComplex: IORTRootComplex)] {
    nodes.compactMap { n in if case .rootComplex(let c) = n.body { (n, c) } else { nil } }
  }

  public init(
    header: ACPITableHeader, nodeCount: UInt32, nodeOffset: UInt32, nodes: [IORTNode], findings: [FirmwareFinding]
  ) {
    self.header = header
    self.nodeCount = nodeCount
    self.nodeOffset = nodeOffset
    self.nodes = nodes
    self.findings = findings
  }
}

/// The node types of the specification (the kernel's ACPI_IORT_NODE_*).
public enum IORTNodeType: UInt8, Sendable, Hashable, CaseIterable {
  case itsGroup = 0
  case namedComponent = 1
  case rootComplex = 2
  case smmu = 3
  case smmuV3 = 4
  case pmcg = 5
  case rmr = 6
}

/// One node: the 16-byte common header, its ID mappings and its type-specific body.
public struct IORTNode: Sendable, Hashable {
  public var offset: Int
  /// The raw type byte; `type` is nil for types this parser does not know.
  public var rawType: UInt8
  public var length: UInt16
  public var revision: UInt8
  /// The node identifier (revision 3+ tables; "Reserved" before).
  public var identifier: UInt32
  public var mappingCount: UInt32
  public var mappingOffset: UInt32
  public var idMappings: [IORTIDMapping]
  public var body: IORTNodeBody

  public var type: IORTNodeType? { IORTNodeType(rawValue: rawType) }

  public init(
    offset: Int, rawType: UInt8, length: UInt16, revision: UInt8, identifier: UInt32, mappingCount: UInt32,
    mappingOffset: UInt32, idMappings: [IORTIDMapping], body: IORTNodeBody
  ) {
    self.offset = offset
    self.rawType = rawType
    self.length = length
    self.revision = revision
    self.identifier = identifier
    self.mappingCount = mappingCount
    self.mappingOffset = mappingOffset
    self.idMappings = idMappings
    self.body = body
  }
}

public enum IORTNodeBody: Sendable, Hashable {
  case itsGroup(IORTITSGroup)
  case namedComponent(IORTNamedComponent)
  case rootComplex(IORTRootComplex)
  case smmu(IORTSMMU)
  case smmuV3(IORTSMMUv3)
  case pmcg(IORTPMCG)
  case rmr(IORTRMR)
  case unknown
}

/// An ID mapping: input IDs `inputBase...inputBase+idCount` (the count is the number of IDs
/// minus one) become `outputBase...` on the node at `outputReference`.
public struct IORTIDMapping: Sendable, Hashable {
  public var offset: Int
  public var inputBase: UInt32
  /// The number of IDs in the range minus one, as the specification defines it.
  public var idCount: UInt32
  public var outputBase: UInt32
  public var outputReference: UInt32
  public var flags: UInt32

  /// ACPI_IORT_ID_SINGLE_MAPPING: the node has a single ID (`outputBase`), input is ignored.
  public var isSingleMapping: Bool { flags & 1 != 0 }
  public var inputRange: ClosedRange<UInt64> { UInt64(inputBase)...(UInt64(inputBase) + UInt64(idCount)) }
  public var outputRange: ClosedRange<UInt64> { UInt64(outputBase)...(UInt64(outputBase) + UInt64(idCount)) }

  public init(
    offset: Int, inputBase: UInt32, idCount: UInt32, outputBase: UInt32, outputReference: UInt32, flags: UInt32
  ) {
    self.offset = offset
    self.inputBase = inputBase
    self.idCount = idCount
    self.outputBase = outputBase
    self.outputReference = outputReference
    self.flags = flags
  }
}

/// Memory access properties of a named component or root complex.
public struct IORTMemoryAccess: Sendable, Hashable {
  /// 1: fully coherent; 0: not coherent.
  public var cacheCoherency: UInt32
  public var allocationHints: UInt8
  /// Bit 0 CPM (coherent path to memory), bit 1 DACS (device attributes are cacheable and shareable).
  public var flags: UInt8
  public var isCoherent: Bool { cacheCoherency == 1 }

  public init(cacheCoherency: UInt32, allocationHints: UInt8, flags: UInt8) {
    self.cacheCoherency = cacheCoherency
    self.allocationHints = allocationHints
    self.flags = flags
  }
}

/// An interrupt as the SMMUv1/v2 node lists it: GSIV and flags (bit 0: edge triggered).
public struct IORTInterrupt: Sendable, Hashable {
  public var gsiv: UInt32
  public var flags: UInt32
  public var isEdgeTriggered: Bool { flags & 1 != 0 }

  public init(gsiv: UInt32, flags: UInt32) {
    self.gsiv = gsiv
    self.flags = flags
  }
}

/// Type 0: the ITS identifiers of a GIC ITS group.
public struct IORTITSGroup: Sendable, Hashable {
  public var identifiers: [UInt32]

  public init(identifiers: [UInt32]) {
    self.identifiers = identifiers
  }
}

/// Type 1: a platform device named by its ACPI path.
public struct IORTNamedComponent: Sendable, Hashable {
  public var flags: UInt32
  public var memoryAccess: IORTMemoryAccess
  /// Device memory address size limit in bits (0: none given).
  public var memoryAddressLimit: UInt8
  public var deviceName: String

  public init(flags: UInt32, memoryAccess: IORTMemoryAccess, memoryAddressLimit: UInt8, deviceName: String) {
    self.flags = flags
    self.memoryAccess = memoryAccess
    self.memoryAddressLimit = memoryAddressLimit
    self.deviceName = deviceName
  }
}

/// Type 2: a PCI root complex (one PCI segment).
public struct IORTRootComplex: Sendable, Hashable {
  public var memoryAccess: IORTMemoryAccess
  /// Bit 0: ATS supported; bit 1: PRI supported; bit 2: PASID forwarding supported.
  public var atsAttribute: UInt32
  public var pciSegment: UInt32
  /// Present from node revision 1 on; nil when the node is too short to hold it.
  public var memoryAddressLimit: UInt8?
  /// Present from node revision 4 on.
  public var pasidCapabilities: UInt16?
  public var flags: UInt32?
  public var atsSupported: Bool { atsAttribute & 1 != 0 }

  public init(
    memoryAccess: IORTMemoryAccess, atsAttribute: UInt32, pciSegment: UInt32, memoryAddressLimit: UInt8?,
    pasidCapabilities: UInt16?, flags: UInt32?
  ) {
    self.memoryAccess = memoryAccess
    self.atsAttribute = atsAttribute
    self.pciSegment = pciSegment
    self.memoryAddressLimit = memoryAddressLimit
    self.pasidCapabilities = pasidCapabilities
    self.flags = flags
  }
}

/// Type 3: an SMMUv1 or SMMUv2 (arm-smmu driver).
public struct IORTSMMU: Sendable, Hashable {
  public enum Model: Sendable, Hashable {
    case genericV1, genericV2, mmu400, mmu500, mmu401, caviumThunderX, unknown(UInt32)
    public init(rawValue: UInt32) {
      switch rawValue {
      case 0: self = .genericV1
      case 1: self = .genericV2
      case 2: self = .mmu400
      case 3: self = .mmu500
      case 4: self = .mmu401
      case 5: self = .caviumThunderX
      default: self = .unknown(rawValue)
      }
    }
  }
  public var baseAddress: UInt64
  public var span: UInt64
  public var rawModel: UInt32
  /// Bit 0: DVM supported; bit 1: coherent page table walk.
  public var flags: UInt32
  /// NSgIrpt and NSgCfgIrpt.
  public var globalInterrupts: [IORTInterrupt]
  public var contextInterrupts: [IORTInterrupt]
  public var pmuInterrupts: [IORTInterrupt]

  public var model: Model { Model(rawValue: rawModel) }
  public var isDVMSupported: Bool { flags & 1 != 0 }
  public var isCoherentWalk: Bool { flags & 2 != 0 }

  public init(
    baseAddress: UInt64, span: UInt64, rawModel: UInt32, flags: UInt32, globalInterrupts: [IORTInterrupt],
    contextInterrupts: [IORTInterrupt], pmuInterrupts: [IORTInterrupt]
  ) {
    self.baseAddress = baseAddress
    self.span = span
    self.rawModel = rawModel
    self.flags = flags
    self.globalInterrupts = globalInterrupts
    self.contextInterrupts = contextInterrupts
    self.pmuInterrupts = pmuInterrupts
  }
}

/// Type 4: an SMMUv3 (arm-smmu-v3 driver).
public struct IORTSMMUv3: Sendable, Hashable {
  public struct Flags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// COHACC override: the SMMU's accesses are coherent, whatever IDR0.COHACC says.
    public static let coherentAccessOverride = Flags(rawValue: 1 << 0)
    /// HTTU override bits 2:1 (hardware update of access/dirty flags).
    public static let httuOverrideAccess = Flags(rawValue: 1 << 1)
    public static let httuOverrideDirty = Flags(rawValue: 1 << 2)
    public static let proximityDomainValid = Flags(rawValue: 1 << 3)
    /// DeviceID mapping index valid (node revision 5+).
    public static let deviceIDMappingIndexValid = Flags(rawValue: 1 << 4)
  }
  public enum Model: Sendable, Hashable {
    case generic, hisiliconHi161x, caviumCN99xx, unknown(UInt32)
    public init(rawValue: UInt32) {
      switch rawValue {
      case 0: self = .generic
      case 1: self = .hisiliconHi161x
      case 2: self = .caviumCN99xx
      default: self = .unknown(rawValue)
      }
    }
  }
  public var baseAddress: UInt64
  public var flags: Flags
  public var vatosAddress: UInt64
  public var rawModel: UInt32
  public var eventGSIV: UInt32
  public var priGSIV: UInt32
  public var gerrGSIV: UInt32
  public var syncGSIV: UInt32
  /// Present from node revision 1 on; nil when the node is too short to hold it.
  public var proximityDomain: UInt32?
  public var deviceIDMappingIndex: UInt32?

  public var model: Model { Model(rawValue: rawModel) }

  public init(
    baseAddress: UInt64, flags: Flags, vatosAddress: UInt64, rawModel: UInt32, eventGSIV: UInt32, priGSIV: UInt32,
    gerrGSIV: UInt32, syncGSIV: UInt32, proximityDomain: UInt32?, deviceIDMappingIndex: UInt32?
  ) {
    self.baseAddress = baseAddress
    self.flags = flags
    self.vatosAddress = vatosAddress
    self.rawModel = rawModel
    self.eventGSIV = eventGSIV
    self.priGSIV = priGSIV
    self.gerrGSIV = gerrGSIV
    self.syncGSIV = syncGSIV
    self.proximityDomain = proximityDomain
    self.deviceIDMappingIndex = deviceIDMappingIndex
  }
}

/// Type 5: a PMU counter group (SMMUv3 PMCG).
public struct IORTPMCG: Sendable, Hashable {
  public var page0BaseAddress: UInt64
  public var overflowGSIV: UInt32
  /// The node (an SMMUv3 or a named component) the counters belong to.
  public var nodeReference: UInt32
  /// Present from node revision 1 on.
  public var page1BaseAddress: UInt64?

  public init(page0BaseAddress: UInt64, overflowGSIV: UInt32, nodeReference: UInt32, page1BaseAddress: UInt64?) {
    self.page0BaseAddress = page0BaseAddress
    self.overflowGSIV = overflowGSIV
    self.nodeReference = nodeReference
    self.page1BaseAddress = page1BaseAddress
  }
}

/// Type 6: reserved memory ranges the streams of the node's ID mappings keep using.
public struct IORTRMR: Sendable, Hashable {
  public struct Range: Sendable, Hashable {
    public var offset: Int
    public var baseAddress: UInt64
    public var length: UInt64

    public init(offset: Int, baseAddress: UInt64, length: UInt64) {
      self.offset = offset
      self.baseAddress = baseAddress
      self.length = length
    }
  }
  /// Bit 0: remapping permitted; bit 1: access privilege; bits 9:2: access attributes.
  public var flags: UInt32
  public var ranges: [Range]
  public var remappingPermitted: Bool { flags & 1 != 0 }

  public init(flags: UInt32, ranges: [Range]) {
    self.flags = flags
    self.ranges = ranges
  }
}
