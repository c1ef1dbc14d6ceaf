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

/// An open libpci access; closed when the last function read through it is released.
final class LibPCIHandle: @unchecked Sendable {
  // SAFETY: used from one thread at a time (a report is built sequentially); the C side keeps
  // a per-thread landing point for libpci's error handler.
  let raw: OpaquePointer
  init(_ raw: OpaquePointer) { self.raw = raw }
  deinit { CPCIShim_close(raw) }
}

/// A function's configuration space, live through libpci: a read-only register backend
/// (8/16/32-bit reads) that reads each dword on first use and keeps it, as lspci reads only
/// what it decodes. Config cycles are slow (a VM exit each on a guest), so nothing is read
/// ahead. A dword the back-end refuses (past 64 bytes for a non-root reader, past the end of a
/// dump) reads as out of bounds: never as zero, never as "capability absent".
///
/// It conforms only to `RegisterIO`: writing to the host's config space does not compile.
public final class LibPCIConfigSpace: RegisterIO, @unchecked Sendable {
  // SAFETY: the cache is mutated by reads; a report reads from one thread at a time.
  public let size = PCIConfig.extendedSize
  public let supportedWidths: AccessWidths = .configSpace
  private let handle: LibPCIHandle
  private let index: Int32
  private var bytes = [UInt8](repeating: 0, count: PCIConfig.extendedSize)
  /// Per dword: 0 not read yet, 1 read, 2 refused.
  private var state = [UInt8](repeating: 0, count: PCIConfig.extendedSize / 4)
  /// libpci's message, when a read failed in libpci itself rather than being refused.
  public private(set) var lastError: String?

  init(handle: LibPCIHandle, index: Int32) {
    self.handle = handle
    self.index = index
    // The header in one read, as lspci does.
    if load(0, 64) {
      for i in 0..<16 { state[i] = 1 }
    }
  }

  /// Bytes of configuration space read so far.
  public var bytesRead: Int { state.reduce(0) { $0 + ($1 == 1 ? 4 : 0) } }

  /// The lowest offset that was refused, if any read was.
  public var firstRefusedOffset: Int? { state.firstIndex(of: 2).map { $0 * 4 } }

  public func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    let dword = offset / 4
    if state[dword] == 0 { state[dword] = load(dword * 4, 4) ? 1 : 2 }
    guard state[dword] == 1 else { throw .outOfBounds(offset: offset, width: width, size: dword * 4) }
    var v: UInt64 = 0
    for i in 0..<width.rawValue { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
    return v
  }

  private func load(_ offset: Int, _ length: Int) -> Bool {
    var message = [CChar](repeating: 0, count: 256)
    let r = bytes.withUnsafeMutableBufferPointer { b in
      CPCIShim_readBlock(
        handle.raw, index, Int32(offset), b.baseAddress.map { $0 + offset }, Int32(length), &message, message.count)
    }
    if r < 0 { lastError = LibPCI.string(message) }
    return r == 1
  }
}

/// One PCI function as libpci sees it: its address and its configuration space.
public struct HostPCIFunction: @unchecked Sendable {
  public var address: PCIAddress
  /// Read-only, read on demand.
  public var config: LibPCIConfigSpace

  private func field<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ offset: Int) -> T? {
    try? config.read(T.self, at: offset)
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
  /// Opens `source` and lists every function in it, sorted by domain:bus:device.function
  /// (libpci's own order is unspecified). Config space is read later, as it is used.
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
    let handle = LibPCIHandle(access)
    var functions: [HostPCIFunction] = []
    for index in 0..<CPCIShim_deviceCount(access) {
      var domain: UInt32 = 0
      var bus: UInt8 = 0
      var device: UInt8 = 0
      var function: UInt8 = 0
      CPCIShim_deviceAddress(access, index, &domain, &bus, &device, &function)
      let config = LibPCIConfigSpace(handle: handle, index: index)
      if let error = config.lastError { throw LibPCIError(error) }
      functions.append(
        HostPCIFunction(
          address: PCIAddress(domain: domain, bus: bus, device: device, function: function), config: config))
    }
    return functions.sorted { $0.address < $1.address }
  }

  static func string(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
