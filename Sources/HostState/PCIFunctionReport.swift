import IOMMURegisters
import MMIO
import PCI

/// Why a PCI function is taken for an IOMMU.
public struct IOMMUFunctionMatch: Sendable, Hashable, Encodable {
  /// `riscv-iommu-pci`, `amd-iommu` or `iommu-class`.
  public var kind: String
  public var reason: String

  /// Recognises an IOMMU function by the IDs the kernel drivers match and by class 0x0806.
  /// The RISC-V IDs are riscv_iommu_pci_tbl's, drivers/iommu/riscv/iommu-pci.c (Linux 7.2);
  /// the AMD driver finds its functions through IVRS, so here they are AMD or ATI functions of
  /// class 0x0806 or with an IOMMU capability (ID 0x0F, type 3).
  static func recognise(vendor: UInt16?, device: UInt16?, classCode: UInt32?, walk: CapabilityWalk, io: some RegisterIO)
    -> IOMMUFunctionMatch?
  {
    let isIOMMUClass = classCode.map { $0 >> 8 == 0x0806 } ?? false
    switch (vendor, device) {
    case (0x1b36, 0x0014):
      return .init(kind: "riscv-iommu-pci", reason: "1b36:0014 (QEMU riscv-iommu-pci) in riscv_iommu_pci_tbl")
    case (0x1efd, 0x0008): return .init(kind: "riscv-iommu-pci", reason: "1efd:0008 (Rivos) in riscv_iommu_pci_tbl")
    default: break
    }
    if vendor == 0x1022 || vendor == 0x1002 {
      if let cap = walk.first(PCICapabilityID.secureDevice),
        let header = try? io.read(UInt32.self, at: cap.offset), AMDIOMMUCapabilityHeader(raw: header).isIOMMU
      {
        return .init(kind: "amd-iommu", reason: "AMD IOMMU capability (ID 0x0F, type 3) at \(hex(cap.offset))")
      }
      if isIOMMUClass { return .init(kind: "amd-iommu", reason: "AMD function of class 0x0806 (IOMMU)") }
    }
    if isIOMMUClass { return .init(kind: "iommu-class", reason: "class 0x0806 (system peripheral: IOMMU)") }
    return nil
  }
}

/// One PCI function in the report.
public struct PCIFunctionReport: Sendable, Hashable, Encodable {
  public var address: String
  public var vendor: String?
  public var device: String?
  /// Class code, base class and subclass (`0806`), and the programming interface apart.
  public var `class`: String?
  public var progIF: String?
  public var revision: String?
  /// Bytes of configuration space read: the 64-byte header and the dwords the capability walk
  /// and decoding needed (config is read on demand, as lspci reads it).
  public var configBytes: Int
  public var driver: String?
  public var iommuGroup: Int?
  public var iommu: IOMMUFunctionMatch?
  /// `complete`, `absent`, `not-applicable`, `needs-root`, `not-captured` or `malformed`,
  /// for the standard and extended lists.
  public var capabilityList: String
  public var extendedCapabilityList: String
  public var capabilities: [Capability]
  /// Facts that could not be established, and why ("ACS, ATS, PRI, PASID: needs root").
  public var unknown: [String]

  public struct Capability: Sendable, Hashable, Encodable {
    public var id: String
    public var name: String
    public var offset: String
    public var extended: Bool
    public var registers: [Register]
  }

  public struct Register: Sendable, Hashable, Encodable {
    public var name: String
    public var offset: String
    public var value: String
    public var fields: [DecodedField]
  }

  init(_ f: HostPCIFunction, live: Bool, driver: String?, group: Int?) {
    func h(_ v: (some BinaryInteger)?, _ n: Int) -> String? { v.map { String(hex($0, digits: n).dropFirst(2)) } }
    address = f.address.description
    vendor = h(f.vendorID, 4)
    device = h(f.deviceID, 4)
    `class` = h(f.classCode.map { $0 >> 8 }, 4)
    progIF = h(f.classCode.map { $0 & 0xff }, 2)
    revision = h(f.revision, 2)
    self.driver = driver
    iommuGroup = group
    let io = f.config
    let walk = PCICapabilities.walk(io)
    iommu = IOMMUFunctionMatch.recognise(
      vendor: f.vendorID, device: f.deviceID, classCode: f.classCode, walk: walk, io: io)
    let missing = live ? "needs-root" : "not-captured"
    func state(_ s: CapabilityListState) -> String {
      switch s {
      case .complete: "complete"
      case .absent: "absent"
      case .notApplicable: "not-applicable"
      case .unreadable(let o): "\(missing) (from \(hex(o)))"
      case .malformed(let o, let r): "malformed at \(hex(o)): \(r)"
      }
    }
    capabilityList = state(walk.standard)
    extendedCapabilityList = state(walk.extended)
    capabilities = walk.capabilities.map { cap in
      Capability(
        id: hex(cap.id, digits: cap.isExtended ? 4 : 2), name: cap.name, offset: hex(cap.offset, digits: 3),
        extended: cap.isExtended,
        registers: PCICapabilities.decode(cap, in: io).map { r in
          Register(
            name: r.name, offset: hex(r.offset, digits: 3), value: hex(r.value, digits: r.width.rawValue * 2),
            fields: r.fields.map { DecodedField(RegisterField($0.name, $0.bits), value: $0.value) })
        })
    }
    configBytes = io.bytesRead
    let refused = io.firstRefusedOffset ?? PCIConfig.extendedSize
    let why =
      live
      ? "needs root: config space readable only up to \(hex(refused))"
      : "not captured: the dump holds \(refused) bytes of config space"
    var unknown: [String] = []
    let standardFacts = [
      ("MSI", PCICapabilityID.msi), ("MSI-X", PCICapabilityID.msix), ("PCI Express", PCICapabilityID.pciExpress),
    ]
    let unknownStandard = standardFacts.filter { !walk.knownAbsent($0.1) && walk.first($0.1) == nil }.map(\.0)
    if !unknownStandard.isEmpty { unknown.append(unknownStandard.joined(separator: ", ") + ": " + why) }
    let extendedFacts = [
      ("ACS", PCICapabilityID.acs), ("ATS", PCICapabilityID.ats), ("PRI", PCICapabilityID.pri),
      ("PASID", PCICapabilityID.pasid),
    ]
    let unknownExtended = extendedFacts.filter {
      !walk.knownAbsent($0.1, extended: true) && walk.first($0.1, extended: true) == nil
    }
    .map(\.0)
    if !unknownExtended.isEmpty, !isMalformed(walk) {
      unknown.append(unknownExtended.joined(separator: ", ") + ": " + why)
    }
    self.unknown = unknown
  }
}

private func isMalformed(_ walk: CapabilityWalk) -> Bool {
  if case .malformed = walk.extended { return true }
  return false
}
