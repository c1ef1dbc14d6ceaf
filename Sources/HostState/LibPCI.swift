import CPCIShim
import MMIO
import PCI

/// Where PCI configuration space is read from.
public enum PCISource: Sendable, Hashable, CustomStringConvertible {
  /// libpci's linux-sysfs method. `sysfsRoot` is a sysfs tree (`/sys`, or a captured copy);
  /// libpci reads `<root>/bus/pci/devices/*/config`.
  case sysfs(root: String)
  /// libpci's dump method, reading `lspci -x`, `-xxx` or `-xxxx` output (lspci's `-F FILE`).
  case dump(path: String)

  public var description: String {
    switch self {
    case .sysfs(let root): "libpci linux-sysfs (\(root)/bus/pci)"
    case .dump(let path): "libpci dump (\(path))"
    }
  }
}

/// A libpci failure, with libpci's own message (libpci would have exited the process).
public struct LibPCIError: Error, Sendable, Hashable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { "libpci: \(message)" }
}

/// One PCI function as libpci read it: its address and the configuration bytes the reader was
/// allowed to see (64 for a non-root sysfs reader or an `lspci -x` dump, 256, or 4096).
public struct HostPCIFunction: Sendable, Hashable {
  public var address: PCIAddress
  /// The configuration space bytes read from offset 0, as far as needed (64 bytes without a
  /// capability list, 256 without PCI Express) and allowed; bytes past these were not read.
  public var configBytes: [UInt8]

  public init(address: PCIAddress, configBytes: [UInt8]) {
    self.address = address
    self.configBytes = configBytes
  }

  /// The configuration space as a read-only register backend (8/16/32-bit reads). Reads past
  /// the captured bytes fail as out of bounds, so nothing unread is ever taken for zero.
  /// It conforms only to `RegisterIO`: writing to the host's config space does not compile.
  public var config: some RegisterIO {
    SnapshotRegisterIO(bytes: configBytes, supportedWidths: .configSpace)
  }

  private func field<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ offset: Int) -> T? {
    guard offset + T.bitWidth / 8 <= configBytes.count else { return nil }
    var v: T = 0
    for i in 0..<(T.bitWidth / 8) { v |= T(configBytes[offset + i]) << (8 * i) }
    return v
  }

  public var vendorID: UInt16? { field(UInt16.self, PCIConfig.vendorID) }
  public var deviceID: UInt16? { field(UInt16.self, PCIConfig.deviceID) }
  public var revision: UInt8? { field(UInt8.self, PCIConfig.revisionID) }
  /// Base class, subclass and programming interface (`0x080600` for an IOMMU).
  public var classCode: UInt32? { field(UInt32.self, 0x08).map { $0 >> 8 } }
  public var headerType: UInt8? { field(UInt8.self, PCIConfig.headerType) }
}

/// Reading the host's PCI functions through libpci, read-only.
public enum LibPCI {
  /// Scans every function `source` holds, sorted by domain:bus:device.function (libpci's own
  /// order is unspecified), and reads as much of each configuration space as allowed.
  public static func scan(_ source: PCISource) throws(LibPCIError) -> [HostPCIFunction] {
    var message = [CChar](repeating: 0, count: 256)
    let access: OpaquePointer?
    switch source {
    case .sysfs(let root):
      access = CPCIShim_open(CPCIShim_MethodSysfs, root + "/bus/pci", &message, message.count)
    case .dump(let path):
      access = CPCIShim_open(CPCIShim_MethodDump, path, &message, message.count)
    }
    guard let access else { throw LibPCIError(string(message)) }
    defer { CPCIShim_close(access) }
    var functions: [HostPCIFunction] = []
    var buffer = [UInt8](repeating: 0, count: PCIConfig.extendedSize)
    for index in 0..<CPCIShim_deviceCount(access) {
      var domain: UInt32 = 0
      var bus: UInt8 = 0
      var device: UInt8 = 0
      var function: UInt8 = 0
      CPCIShim_deviceAddress(access, index, &domain, &bus, &device, &function)
      let bytes = try readConfig(access, index, &buffer, &message)
      functions.append(
        HostPCIFunction(
          address: PCIAddress(domain: domain, bus: bus, device: device, function: function),
          configBytes: bytes))
    }
    return functions.sorted { $0.address < $1.address }
  }

  /// Reads config space the way lspci does, only as far as it is needed: the 64-byte header;
  /// the rest of the standard space when Status.CapList says there is a capability list; the
  /// extended space when that list holds a PCI Express capability. Each step stops at the first
  /// refusal (non-root readers and short dumps), so what comes back is what could be read.
  /// Reading config space costs a config cycle per dword (a VM exit on a guest): reading
  /// 4 KiB of every function up front would make the report slower than lspci.
  private static func readConfig(
    _ access: OpaquePointer, _ index: Int32, _ buffer: inout [UInt8], _ message: inout [CChar]
  ) throws(LibPCIError) -> [UInt8] {
    func block(_ offset: Int, _ length: Int) throws(LibPCIError) -> Bool {
      let r = buffer.withUnsafeMutableBufferPointer { b in
        CPCIShim_readBlock(
          access, index, Int32(offset), b.baseAddress! + offset, Int32(length), &message, message.count)
      }
      guard r >= 0 else { throw LibPCIError(string(message)) }
      return r == 1
    }
    guard try block(0, 64) else {
      // A dump with fewer than 64 bytes: the longest readable prefix.
      let n = CPCIShim_readConfig(access, index, &buffer, &message, message.count)
      guard n >= 0 else { throw LibPCIError(string(message)) }
      return Array(buffer[0..<Int(n)])
    }
    let status = UInt16(buffer[PCIConfig.status]) | UInt16(buffer[PCIConfig.status + 1]) << 8
    guard status & PCIConfig.statusCapList != 0 else { return Array(buffer[0..<64]) }
    guard try block(64, PCIConfig.standardSize - 64) else { return Array(buffer[0..<64]) }
    let standard = Array(buffer[0..<PCIConfig.standardSize])
    let walk = PCICapabilities.walk(SnapshotRegisterIO(bytes: standard, supportedWidths: .configSpace))
    guard walk.first(PCICapabilityID.pciExpress) != nil,
      try block(PCIConfig.standardSize, PCIConfig.extendedSize - PCIConfig.standardSize)
    else { return standard }
    return buffer
  }

  private static func string(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
