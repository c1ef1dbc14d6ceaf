#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a file of the host could not be read. Permission problems are kept apart from absence:
/// the report tells "needs root to see X" from "X does not exist".
public enum HostFileError: Error, Sendable, Hashable, CustomStringConvertible {
  case absent
  case permissionDenied
  case failed(errno: Int32)

  init(errno e: Int32) {
    switch e {
    case ENOENT, ENOTDIR: self = .absent
    case EACCES, EPERM: self = .permissionDenied
    default: self = .failed(errno: e)
    }
  }

  public var description: String {
    switch self {
    case .absent: "absent"
    case .permissionDenied: "permission denied"
    case .failed(let e): "read error (errno \(e))"
    }
  }
}

/// Read-only access to sysfs, procfs and captured copies of them, through plain POSIX calls
/// (no Foundation: the report should start as fast as lspci).
enum HostFiles {
  /// The bytes of a file, up to `limit`.
  static func bytes(_ path: String, limit: Int = 1 << 22) -> Result<[UInt8], HostFileError> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .failure(HostFileError(errno: errno)) }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while out.count < limit {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
      if n < 0 {
        if errno == EINTR { continue }
        return .failure(HostFileError(errno: errno))
      }
      if n == 0 { break }
      out.append(contentsOf: chunk[0..<n])
    }
    return .success(out)
  }

  /// A text file with trailing whitespace removed (sysfs values end in a newline).
  static func text(_ path: String) -> Result<String, HostFileError> {
    bytes(path, limit: 1 << 20).map { b in
      var s = String(decoding: b, as: UTF8.self)
      while let last = s.last, last.isWhitespace || last == "\0" { s.removeLast() }
      return s
    }
  }

  /// The entries of a directory, sorted, without `.` and `..`.
  static func list(_ path: String) -> Result<[String], HostFileError> {
    guard let dir = opendir(path) else { return .failure(HostFileError(errno: errno)) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return .success(names.sorted())
  }

  /// The last path component of a symbolic link's target (`iommu_group` -> `7`, `driver` ->
  /// `vfio-pci`), or nil when `path` is not a link.
  static func linkName(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return target.split(separator: "/").last.map(String.init)
  }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  /// The effective user ID of this process (0 = root).
  static var effectiveUserID: UInt32 { UInt32(geteuid()) }
}
