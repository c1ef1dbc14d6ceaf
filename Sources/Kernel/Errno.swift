/// A kernel error number, printed as the kernel prints it: `-EBUSY` (`%pe`) or `error -16`.
///
/// Driver functions that mirror kernel functions returning `int` throw `Errno`; a Swift
/// function that returns normally is the C function returning 0.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
  public let rawValue: Int32
  public init(rawValue: Int32) { self.rawValue = rawValue }

  public static let EPERM = Errno(rawValue: 1)
  public static let ENOENT = Errno(rawValue: 2)
  public static let EIO = Errno(rawValue: 5)
  public static let ENXIO = Errno(rawValue: 6)
  public static let EAGAIN = Errno(rawValue: 11)
  public static let ENOMEM = Errno(rawValue: 12)
  public static let EFAULT = Errno(rawValue: 14)
  public static let EBUSY = Errno(rawValue: 16)
  public static let EEXIST = Errno(rawValue: 17)
  public static let ENODEV = Errno(rawValue: 19)
  public static let EINVAL = Errno(rawValue: 22)
  public static let ENOSPC = Errno(rawValue: 28)
  public static let ERANGE = Errno(rawValue: 34)
  public static let ENOSYS = Errno(rawValue: 38)
  public static let EOPNOTSUPP = Errno(rawValue: 95)
  public static let ETIMEDOUT = Errno(rawValue: 110)
  public static let EPROBE_DEFER = Errno(rawValue: 517)
  public static let ENOTSUPP = Errno(rawValue: 524)

  /// The numbers the model names, with their names: scanned in order, which for a few dozen
  /// entries costs less than hashing (errnos are printed in every handover's report).
  static let names: [(number: Int32, name: String)] = [
    (1, "EPERM"), (2, "ENOENT"), (5, "EIO"), (6, "ENXIO"), (11, "EAGAIN"), (12, "ENOMEM"), (14, "EFAULT"),
    (16, "EBUSY"), (17, "EEXIST"), (19, "ENODEV"), (22, "EINVAL"), (28, "ENOSPC"), (34, "ERANGE"),
    (38, "ENOSYS"), (95, "EOPNOTSUPP"), (110, "ETIMEDOUT"), (517, "EPROBE_DEFER"), (524, "ENOTSUPP"),
  ]

  /// The symbolic name without sign (`EBUSY`), or nil for a number the model does not name.
  public var name: String? {
    for entry in Self.names where entry.number == rawValue { return entry.name }
    return nil
  }

  /// The negative return value a kernel function would give (`-16`).
  public var returnValue: Int32 { -rawValue }

  /// The kernel's `%pe` form: `-EBUSY`, or `-1234` for an unnamed number.
  public var description: String { name.map { "-\($0)" } ?? "\(-rawValue)" }

  /// The driver core's form: `error -16`.
  public var kernelErrorDescription: String { "error \(-rawValue)" }

  /// Parses `EBUSY`, `-EBUSY`, `16` or `-16`.
  public init?(_ text: String) {
    let t = text.hasPrefix("-") ? String(text.dropFirst()) : text
    if let n = Int32(t) {
      self.init(rawValue: n)
    } else if let entry = Self.names.first(where: { $0.name == t }) {
      self.init(rawValue: entry.number)
    } else {
      return nil
    }
  }
}
