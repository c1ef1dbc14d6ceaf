/// One register access, as recorded.
public struct MMIOAccess: Sendable, Hashable, CustomStringConvertible {
  public enum Kind: Character, Sendable, Hashable {
    case read = "R"
    case write = "W"
  }
  public var kind: Kind
  public var width: AccessWidth
  public var offset: Int
  public var value: UInt64

  public init(_ kind: Kind, _ width: AccessWidth, offset: Int, value: UInt64) {
    self.kind = kind
    self.width = width
    self.offset = offset
    self.value = value
  }

  /// The canonical line: `W32 0x0048 0x00000103`. Offsets have at least four hex digits,
  /// values exactly as many as the width.
  public var description: String {
    "\(kind.rawValue)\(width.bits) \(hex(offset, digits: 4)) \(hex(value, digits: width.rawValue * 2))"
  }

  /// Parses a canonical line.
  public init?(line: Substring) {
    let parts = line.split(separator: " ", omittingEmptySubsequences: true)
    guard parts.count == 3, let k = parts[0].first, let kind = Kind(rawValue: k),
      let bits = Int(parts[0].dropFirst()), let width = AccessWidth(bits: bits),
      parts[1].hasPrefix("0x"), let offset = Int(parts[1].dropFirst(2), radix: 16),
      parts[2].hasPrefix("0x"), let value = UInt64(parts[2].dropFirst(2), radix: 16)
    else { return nil }
    self.init(kind, width, offset: offset, value: value)
  }
}

/// An ordered record of register accesses, shared by the recorders that append to it.
///
/// Recording sits on the hot path of every traced access, so the storage is a plain growable
/// buffer reached through a `let` pointer: no exclusivity checks, no copy-on-write checks.
public final class AccessTrace: CustomStringConvertible {
  @usableFromInline
  struct Storage {
    @usableFromInline var elements: UnsafeMutablePointer<MMIOAccess>
    @usableFromInline var count: Int
    @usableFromInline var capacity: Int
    @usableFromInline var isEnabled: Bool
  }

  // SAFETY: allocated in init, freed in deinit; `elements` holds `capacity` slots of which the
  // first `count` are initialised (MMIOAccess is a trivial type).
  @usableFromInline let storage: UnsafeMutablePointer<Storage>

  public init() {
    storage = .allocate(capacity: 1)
    storage.initialize(to: Storage(elements: .allocate(capacity: 256), count: 0, capacity: 256, isEnabled: true))
  }

  deinit {
    storage.pointee.elements.deallocate()
    storage.deallocate()
  }

  /// Set to false to pause recording without unwrapping the backend.
  public var isEnabled: Bool {
    get { storage.pointee.isEnabled }
    set { storage.pointee.isEnabled = newValue }
  }

  @inlinable
  public func append(_ access: MMIOAccess) {
    guard storage.pointee.isEnabled else { return }
    let n = storage.pointee.count
    if n == storage.pointee.capacity { grow() }
    (storage.pointee.elements + n).initialize(to: access)
    storage.pointee.count = n + 1
  }

  @usableFromInline
  func grow() {
    let newCapacity = storage.pointee.capacity * 2
    let elements = UnsafeMutablePointer<MMIOAccess>.allocate(capacity: newCapacity)
    elements.moveInitialize(from: storage.pointee.elements, count: storage.pointee.count)
    storage.pointee.elements.deallocate()
    storage.pointee.elements = elements
    storage.pointee.capacity = newCapacity
  }

  /// Forgets every access, keeping the buffer.
  public func removeAll() { storage.pointee.count = 0 }

  /// The accesses recorded, in order.
  public var accesses: [MMIOAccess] {
    Array(UnsafeBufferPointer(start: storage.pointee.elements, count: storage.pointee.count))
  }

  public var count: Int { storage.pointee.count }

  /// The canonical text form, one access a line.
  public var lines: [String] { accesses.map(\.description) }

  public var description: String { lines.joined(separator: "\n") }
}

/// A decorator that records every access that reaches `base`, in the canonical form.
///
/// Reads record the value returned; writes the value written (before any masking by the
/// hardware). Accesses refused by the bounds check are not recorded: they never reach the bus.
public final class RecordingRegisterIO<Base: RegisterIO>: RegisterIO {
  public let base: Base
  public let trace: AccessTrace

  public init(_ base: Base, trace: AccessTrace = AccessTrace()) {
    self.base = base
    self.trace = trace
  }

  @inlinable public var size: Int { base.size }
  @inlinable public var supportedWidths: AccessWidths { base.supportedWidths }

  @inlinable
  public func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    let value = try base.uncheckedRead(width, at: offset)
    trace.append(MMIOAccess(.read, width, offset: offset, value: value))
    return value
  }
}

extension RecordingRegisterIO: WritableRegisterIO where Base: WritableRegisterIO {
  @inlinable
  public func uncheckedWrite(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError) {
    trace.append(MMIOAccess(.write, width, offset: offset, value: value))
    try base.uncheckedWrite(value, width, at: offset)
  }
}
