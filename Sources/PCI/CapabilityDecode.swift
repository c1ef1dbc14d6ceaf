import MMIO

/// One register of a capability, read and split into its named fields.
public struct CapabilityRegister: Sendable, Hashable {
  public var name: String
  /// Offset in configuration space.
  public var offset: Int
  public var width: AccessWidth
  public var value: UInt64
  public var fields: [Field]

  /// A named bit range and its value.
  public struct Field: Sendable, Hashable {
    public var name: String
    public var bits: ClosedRange<Int>
    public var value: UInt64
  }
}

/// Reading and decoding the capabilities the IOMMU report cares about.
public enum PCICapabilities {
  /// A capability register layout: its offset within the capability, width, name and fields.
  struct Layout {
    var relative: Int
    var width: AccessWidth
    var name: String
    var fields: [RegisterField]
  }

  /// The registers of `capability`, decoded field by field, read through `io`. Registers that
  /// cannot be read (config space not captured that far) are left out; unknown capabilities
  /// decode to nothing.
  public static func decode(_ capability: PCICapability, in io: some RegisterIO) -> [CapabilityRegister] {
    layouts(for: capability).compactMap { layout in
      let offset = capability.offset + layout.relative
      guard let value = try? io.read(layout.width, at: offset) else { return nil }
      return CapabilityRegister(
        name: layout.name, offset: offset, width: layout.width, value: value,
        fields: layout.fields.map {
          .init(name: $0.name, bits: $0.bits, value: value[bits: $0.bits])
        })
    }
  }

  /// The PCI Express Device/Port Type (PCIe Capabilities register bits 7:4), named.
  public static func portTypeName(_ type: UInt64) -> String {
    switch type {
    case 0x0: "Endpoint"
    case 0x1: "Legacy Endpoint"
    case 0x4: "Root Port"
    case 0x5: "Upstream Switch Port"
    case 0x6: "Downstream Switch Port"
    case 0x7: "PCIe to PCI/PCI-X Bridge"
    case 0x8: "PCI/PCI-X to PCIe Bridge"
    case 0x9: "Root Complex Integrated Endpoint"
    case 0xa: "Root Complex Event Collector"
    default: "Reserved (\(type))"
    }
  }

  static func layouts(for cap: PCICapability) -> [Layout] {
    switch (cap.isExtended, cap.id) {
    case (false, PCICapabilityID.pciExpress): pciExpress
    case (false, PCICapabilityID.msi): msi
    case (false, PCICapabilityID.msix): msix
    case (false, PCICapabilityID.secureDevice): amdIOMMU
    case (true, PCICapabilityID.acs): acs
    case (true, PCICapabilityID.ats): ats
    case (true, PCICapabilityID.pri): pri
    case (true, PCICapabilityID.pasid): pasid
    default: []
    }
  }

  static let pciExpress: [Layout] = [
    Layout(
      relative: 0x02, width: .word, name: "PCIe Capabilities",
      fields: [.init("Version", 0...3), .init("DevicePortType", 4...7), .init("SlotImplemented", bit: 8)]),
    Layout(
      relative: 0x04, width: .dword, name: "Device Capabilities",
      fields: [.init("MaxPayloadSize", 0...2), .init("FLR", bit: 28)]),
    Layout(
      relative: 0x0c, width: .dword, name: "Link Capabilities",
      fields: [.init("MaxLinkSpeed", 0...3), .init("MaxLinkWidth", 4...9), .init("PortNumber", 24...31)]),
    Layout(
      relative: 0x12, width: .word, name: "Link Status",
      fields: [.init("CurrentLinkSpeed", 0...3), .init("NegotiatedLinkWidth", 4...9)]),
    Layout(
      relative: 0x24, width: .dword, name: "Device Capabilities 2",
      fields: [.init("ARIForwarding", bit: 5), .init("AtomicOpRouting", bit: 6), .init("10BitTagCompleter", bit: 16)]),
    Layout(
      relative: 0x28, width: .word, name: "Device Control 2",
      fields: [.init("ARIForwardingEnable", bit: 5), .init("AtomicOpRequesterEnable", bit: 6)]),
  ]

  static let msi: [Layout] = [
    Layout(
      relative: 0x02, width: .word, name: "MSI Message Control",
      fields: [
        .init("Enable", bit: 0), .init("MultipleMessageCapable", 1...3), .init("MultipleMessageEnable", 4...6),
        .init("64BitAddress", bit: 7), .init("PerVectorMasking", bit: 8),
      ]),
    Layout(relative: 0x04, width: .dword, name: "MSI Message Address", fields: []),
  ]

  static let msix: [Layout] = [
    Layout(
      relative: 0x02, width: .word, name: "MSI-X Message Control",
      fields: [.init("TableSize", 0...10), .init("FunctionMask", bit: 14), .init("Enable", bit: 15)]),
    Layout(relative: 0x04, width: .dword, name: "MSI-X Table", fields: [.init("BIR", 0...2), .init("Offset", 3...31)]),
    Layout(relative: 0x08, width: .dword, name: "MSI-X PBA", fields: [.init("BIR", 0...2), .init("Offset", 3...31)]),
  ]

  /// The AMD IOMMU capability (AMD I/O Virtualization Technology specification #48882, §3.7).
  static let amdIOMMU: [Layout] = [
    Layout(
      relative: 0x00, width: .dword, name: "IOMMU Capability Header",
      fields: [
        .init("CapType", 16...18), .init("CapRev", 19...23), .init("IotlbSup", bit: 24),
        .init("HtTunnel", bit: 25), .init("NpCache", bit: 26), .init("EFRSup", bit: 27), .init("CapExt", bit: 28),
      ]),
    Layout(
      relative: 0x04, width: .dword, name: "IOMMU Base Address Low",
      fields: [.init("Enable", bit: 0), .init("BaseAddress_31_14", 14...31)]),
    Layout(relative: 0x08, width: .dword, name: "IOMMU Base Address High", fields: []),
    Layout(
      relative: 0x0c, width: .dword, name: "IOMMU Range",
      fields: [
        .init("UnitID", 0...4), .init("RngValid", bit: 7), .init("BusNumber", 8...15),
        .init("FirstDevice", 16...23), .init("LastDevice", 24...31),
      ]),
    Layout(
      relative: 0x10, width: .dword, name: "IOMMU Miscellaneous Information 0",
      fields: [
        .init("MsiNum", 0...4), .init("GVAsize", 5...7), .init("PAsize", 8...14), .init("VAsize", 15...21),
        .init("HtAtsResv", bit: 22), .init("MsiNumPPR", 27...31),
      ]),
  ]

  private static let acsBits: [RegisterField] = [
    .init("SrcValid", bit: 0), .init("TransBlk", bit: 1), .init("ReqRedir", bit: 2), .init("CmpltRedir", bit: 3),
    .init("UpstreamFwd", bit: 4), .init("EgressCtrl", bit: 5), .init("DirectTrans", bit: 6),
  ]

  /// Access Control Services: which isolation the port offers and which is enabled (the bits
  /// that decide IOMMU group boundaries, lspci's `ACSCap:`/`ACSCtl:`).
  static let acs: [Layout] = [
    Layout(relative: 0x04, width: .word, name: "ACS Capability", fields: acsBits + [.init("EgressVectorSize", 8...15)]),
    Layout(relative: 0x06, width: .word, name: "ACS Control", fields: acsBits),
  ]

  static let ats: [Layout] = [
    Layout(
      relative: 0x04, width: .word, name: "ATS Capability",
      fields: [
        .init("InvalidateQueueDepth", 0...4), .init("PageAlignedRequest", bit: 5), .init("GlobalInvalidate", bit: 6),
      ]),
    Layout(
      relative: 0x06, width: .word, name: "ATS Control",
      fields: [.init("SmallestTranslationUnit", 0...4), .init("Enable", bit: 15)]),
  ]

  static let pri: [Layout] = [
    Layout(
      relative: 0x04, width: .word, name: "PRI Control", fields: [.init("Enable", bit: 0), .init("Reset", bit: 1)]),
    Layout(
      relative: 0x06, width: .word, name: "PRI Status",
      fields: [
        .init("ResponseFailure", bit: 0), .init("UnexpectedPRGIndex", bit: 1), .init("Stopped", bit: 8),
        .init("PRGResponsePASIDRequired", bit: 15),
      ]),
    Layout(relative: 0x08, width: .dword, name: "Outstanding Page Request Capacity", fields: []),
    Layout(relative: 0x0c, width: .dword, name: "Outstanding Page Request Allocation", fields: []),
  ]

  static let pasid: [Layout] = [
    Layout(
      relative: 0x04, width: .word, name: "PASID Capability",
      fields: [.init("ExecutePermission", bit: 1), .init("PrivilegedMode", bit: 2), .init("MaxPASIDWidth", 8...12)]),
    Layout(
      relative: 0x06, width: .word, name: "PASID Control",
      fields: [
        .init("Enable", bit: 0), .init("ExecutePermissionEnable", bit: 1), .init("PrivilegedModeEnable", bit: 2),
      ]),
  ]
}
