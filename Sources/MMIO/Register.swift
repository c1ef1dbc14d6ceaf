/// A typed register: a value type that knows its offset and width, with named fields.
///
/// ```swift
/// struct DDTP: Register {
///   static let offset = 0x10
///   static let name = "DDTP"
///   var raw: UInt64
///   init(raw: UInt64) { self.raw = raw }
///   var mode: FieldValue<DDTPMode> { get { raw.field(0...3) } set { raw[bits: 0...3] = newValue.rawValue } }
///   var busy: Bool { get { raw[bit: 4] } set { raw[bit: 4] = newValue } }
/// }
/// let ddtp = try io.read(DDTP.self)
/// ```
public protocol Register: Hashable, Sendable, CustomStringConvertible {
  associatedtype Raw: FixedWidthInteger & UnsignedInteger & Sendable
  /// Byte offset within the register block.
  static var offset: Int { get }
  /// The name in the specification (`DDTP`, `CR0ACK`, `sCR0`).
  static var name: String { get }
  /// Bits the hardware clears when software writes 1 to them. ``WritableRegisterIO/update(_:_:)``
  /// never writes these back unintentionally.
  static var writeOneToClear: Raw { get }
  /// Named fields, for decoding (`iommu-model host` prints CAP/ECAP with them).
  static var fields: [RegisterField] { get }
  /// The register's bits as read or to be written.
  var raw: Raw { get set }
  init(raw: Raw)
}

extension Register {
  public static var writeOneToClear: Raw { 0 }
  public static var fields: [RegisterField] { [] }
  /// The access width of this register.
  public static var width: AccessWidth { AccessWidth(of: Raw.self) }

  /// Each named field with its value, in declaration order.
  public var decoded: [(field: RegisterField, value: UInt64)] {
    Self.fields.map { ($0, UInt64(truncatingIfNeeded: raw[bits: $0.bits])) }
  }

  /// What a read-modify-write writes when `old` was read and `wanted` is the state asked for:
  /// write-1-to-clear bits are written as 1 only where they read 1 and `wanted` clears them.
  @inlinable
  public static func valueToWrite(old: Self, wanted: Self) -> Self {
    let toClear = old.raw & ~wanted.raw & writeOneToClear
    return Self(raw: (wanted.raw & ~writeOneToClear) | toClear)
  }

  public var description: String {
    "\(Self.name)=\(hex(raw, digits: Self.width.rawValue * 2))"
  }
}

/// A register that repeats with a stride (`SMR(n)`, `S2CR(n)`, `MSI_CFG_TBL(n)`).
public protocol RegisterArray: Hashable, Sendable {
  associatedtype Raw: FixedWidthInteger & UnsignedInteger & Sendable
  static var name: String { get }
  /// Offset of element 0.
  static var base: Int { get }
  /// Distance between elements in bytes.
  static var stride: Int { get }
  /// Number of elements the layout allows.
  static var count: Int { get }
  static var writeOneToClear: Raw { get }
  var raw: Raw { get set }
  init(raw: Raw)
}

extension RegisterArray {
  public static var writeOneToClear: Raw { 0 }

  /// The offset of element `index`; an index past the array is reported as out of bounds.
  @inlinable
  public static func offset(index: Int) throws(IOError) -> Int {
    let offset = base + index * stride
    guard index >= 0, index < count else {
      throw .outOfBounds(
        offset: offset, width: AccessWidth(of: Raw.self), size: base + count * stride)
    }
    return offset
  }
}

/// A named bit range of a register, as the specification names it.
public struct RegisterField: Sendable, Hashable, CustomStringConvertible {
  public let name: String
  public let bits: ClosedRange<Int>
  public init(_ name: String, _ bits: ClosedRange<Int>) {
    self.name = name
    self.bits = bits
  }
  public init(_ name: String, bit: Int) { self.init(name, bit...bit) }
  public var description: String {
    bits.count == 1
      ? "\(name)[\(bits.lowerBound)]" : "\(name)[\(bits.upperBound):\(bits.lowerBound)]"
  }
}

/// The value of an enumerated field: a known encoding, or a reserved one reported as such
/// (never trapped), like Rust-for-Linux's fallible `?=>` projections.
public enum FieldValue<E: RawRepresentable & Sendable & Hashable>: Sendable, Hashable,
  CustomStringConvertible
where E.RawValue == UInt64 {
  case known(E)
  case reserved(UInt64)

  @inlinable
  public init(rawValue: UInt64) {
    self = E(rawValue: rawValue).map(FieldValue.known) ?? .reserved(rawValue)
  }

  @inlinable
  public var rawValue: UInt64 {
    switch self {
    case .known(let e): return e.rawValue
    case .reserved(let v): return v
    }
  }

  /// The known encoding, or nil when reserved.
  @inlinable
  public var known: E? {
    if case .known(let e) = self { return e }
    return nil
  }

  public var description: String {
    switch self {
    case .known(let e): return "\(e)"
    case .reserved(let v): return "reserved(\(v))"
    }
  }
}

extension FixedWidthInteger where Self: UnsignedInteger {
  /// A mask with bits `range` set (`GENMASK(hi, lo)`).
  @inlinable
  public static func mask(_ range: ClosedRange<Int>) -> Self {
    let width = range.count
    let ones: Self = width >= Self.bitWidth ? ~0 : (1 << width) - 1
    return ones << range.lowerBound
  }

  /// One bit (`BIT(n)`).
  @inlinable
  public subscript(bit n: Int) -> Bool {
    get { self & (1 << n) != 0 }
    set { self = newValue ? self | (1 << n) : self & ~(1 << n) }
  }

  /// A multi-bit field, shifted down (`FIELD_GET` / `FIELD_PREP`). Setting truncates to the field.
  @inlinable
  public subscript(bits range: ClosedRange<Int>) -> Self {
    get { (self & Self.mask(range)) >> range.lowerBound }
    set { self = (self & ~Self.mask(range)) | ((newValue << range.lowerBound) & Self.mask(range)) }
  }

  /// An enumerated field; reserved encodings come back as `.reserved`.
  @inlinable
  public func field<E>(_ range: ClosedRange<Int>, as _: E.Type = E.self) -> FieldValue<E> {
    FieldValue(rawValue: UInt64(truncatingIfNeeded: self[bits: range]))
  }
}
