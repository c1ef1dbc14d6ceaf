import MMIO

/// Offsets and bits of the PCI configuration header (include/uapi/linux/pci_regs.h).
public enum PCIConfig {
  public static let vendorID = 0x00
  public static let deviceID = 0x02
  public static let command = 0x04
  public static let status = 0x06
  public static let revisionID = 0x08
  /// Programming interface, subclass, base class: 24 bits from 0x09.
  public static let classProg = 0x09
  public static let headerType = 0x0e
  public static let bar0 = 0x10
  public static let capabilitiesPointer = 0x34

  public static let commandMemory: UInt16 = 1 << 1
  public static let commandMaster: UInt16 = 1 << 2
  public static let statusCapList: UInt16 = 1 << 4

  /// Standard config space is 256 bytes; PCI Express extended config space is 4096.
  public static let standardSize = 256
  public static let extendedSize = 4096
}

/// A simulated PCI function's configuration space: a type-0 header with identity, memory BARs
/// that size the way hardware does (writes of all ones read back the size mask), a Command
/// register, and a capability list the caller lays out.
public enum SimulatedConfigSpace {
  /// A 64-bit memory BAR: its size in bytes (a power of two) and where firmware placed it.
  public struct BAR: Sendable {
    public var size: UInt64
    public var address: UInt64
    public init(size: UInt64, address: UInt64) {
      self.size = size
      self.address = address
    }
  }

  /// A capability: its ID and the bytes after the ID/next pair.
  public struct Capability: Sendable {
    public var id: UInt8
    public var body: [UInt8]
    public init(id: UInt8, body: [UInt8]) {
      self.id = id
      self.body = body
    }
  }

  /// Builds the register file of a type-0 function.
  public static func make(
    vendor: UInt16, device: UInt16, classCode: UInt32, revision: UInt8 = 0, bars: [BAR] = [],
    capabilities: [Capability] = [], size: Int = PCIConfig.extendedSize
  ) -> SimulatedRegisterFile {
    var defs: [SimulatedRegisterFile.Definition] = [
      .init(
        "VENDOR_ID", offset: PCIConfig.vendorID, width: .word, reset: UInt64(vendor),
        readOnly: 0xffff),
      .init(
        "DEVICE_ID", offset: PCIConfig.deviceID, width: .word, reset: UInt64(device),
        readOnly: 0xffff),
      .init("COMMAND", offset: PCIConfig.command, width: .word, reset: 0, readOnly: 0xf8b8),
      .init(
        "STATUS", offset: PCIConfig.status, width: .word,
        reset: capabilities.isEmpty ? 0 : UInt64(PCIConfig.statusCapList), readOnly: 0x07ff,
        writeOneToClear: 0xf900),
      .init(
        "CLASS_REVISION", offset: 0x08, width: .dword,
        reset: UInt64(classCode) << 8 | UInt64(revision),
        readOnly: 0xffff_ffff),
      .init("HEADER_TYPE", offset: PCIConfig.headerType, width: .byte, reset: 0, readOnly: 0xff),
    ]
    for (i, bar) in bars.enumerated() where i < 3 {
      precondition(bar.size.nonzeroBitCount == 1 && bar.size >= 16, "BAR sizes are powers of two")
      // 64-bit prefetchable memory BAR: type bits [2:1] = 0b10, low 4 bits read-only.
      let sizeMask = ~(bar.size - 1)
      defs.append(
        .init(
          "BAR\(2 * i)", offset: PCIConfig.bar0 + 8 * i, width: .dword,
          reset: (bar.address & 0xffff_fff0) | 0x4, readOnly: ~sizeMask & 0xffff_ffff))
      defs.append(
        .init(
          "BAR\(2 * i + 1)", offset: PCIConfig.bar0 + 8 * i + 4, width: .dword,
          reset: bar.address >> 32,
          readOnly: ~(sizeMask >> 32) & 0xffff_ffff))
    }
    var next = 0x40
    let capPtr = capabilities.isEmpty ? 0 : next
    defs.append(
      .init(
        "CAP_PTR", offset: PCIConfig.capabilitiesPointer, width: .byte, reset: UInt64(capPtr),
        readOnly: 0xff))
    var image: [(Int, UInt8)] = []
    for (i, cap) in capabilities.enumerated() {
      let length = (2 + cap.body.count + 3) & ~3
      let following = i + 1 < capabilities.count ? next + length : 0
      image.append((next, cap.id))
      image.append((next + 1, UInt8(following)))
      for (j, b) in cap.body.enumerated() { image.append((next + 2 + j, b)) }
      next += length
    }
    let regs = SimulatedRegisterFile(size: size, supportedWidths: .configSpace, registers: defs)
    // Capability bytes live outside the declared registers: read-only, set through the backdoor.
    for (offset, byte) in image { regs.poke(UInt64(byte), .byte, at: offset) }
    return regs
  }
}
