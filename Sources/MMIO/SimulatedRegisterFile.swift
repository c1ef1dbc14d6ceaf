/// A simulated register block: the silicon side of an MMIO region.
///
/// Like QEMU's device models it keeps, per byte, the stored value and two masks: read-only
/// bits (software writes leave them alone) and write-1-to-clear bits. Everything else is
/// read-write. Bytes no register covers read as zero and ignore writes.
///
/// Side effects are hooks: a write hook runs after the masked value is stored and may update
/// other registers through the backdoor (``poke(_:_:at:)``), as CR0 → CR0ACK or GCMD → GSTS do;
/// a WARL hook legalises a proposed value before it is stored (RISC-V DDTP.MODE); a read hook
/// runs before the value is loaded (a BUSY bit that clears after some reads).
///
/// ```swift
/// let regs = SimulatedRegisterFile(size: 0x1000, registers: [
///   .init("CQCSR", offset: 0x48, width: .dword, readOnly: 0x0003_0000, writeOneToClear: 0xf00),
/// ])
/// regs.onWrite(at: 0x48) { regs, event in
///   // The queue turns on as soon as it is enabled: ON follows EN.
///   regs.poke(event.newValue & 1 == 1 ? event.newValue | 0x1_0000 : event.newValue & ~0x1_0000, .dword, at: 0x48)
/// }
/// ```
public final class SimulatedRegisterFile: WritableRegisterIO {
  /// One register of the block.
  public struct Definition: Sendable, Hashable {
    public var name: String
    public var offset: Int
    public var width: AccessWidth
    /// The value after reset.
    public var reset: UInt64
    /// Bits software cannot change.
    public var readOnly: UInt64
    /// Bits software clears by writing 1.
    public var writeOneToClear: UInt64
    /// Reads return zero (VT-d GCMD is write-only).
    public var writeOnly: Bool

    public init(
      _ name: String, offset: Int, width: AccessWidth, reset: UInt64 = 0, readOnly: UInt64 = 0,
      writeOneToClear: UInt64 = 0, writeOnly: Bool = false
    ) {
      self.name = name
      self.offset = offset
      self.width = width
      self.reset = reset & width.valueMask
      self.readOnly = readOnly & width.valueMask & ~writeOneToClear
      self.writeOneToClear = writeOneToClear & width.valueMask
      self.writeOnly = writeOnly
    }
  }

  /// What a write hook is told.
  public struct WriteEvent: Sendable {
    /// The offset of the register the write landed in (``definition(at:)`` describes it): not
    /// its definition, whose copy (and name) would cost more than most hooks.
    public let registerOffset: Int
    /// The access as software issued it.
    public let offset: Int
    public let width: AccessWidth
    public let value: UInt64
    /// The whole register before and after the masked write.
    public let oldValue: UInt64
    public let newValue: UInt64
  }

  public typealias WriteHook = (SimulatedRegisterFile, WriteEvent) -> Void
  /// Given the register's current value and the value a write would store, returns the value
  /// the hardware actually keeps (write-any, read-legal).
  public typealias LegalizeHook = (_ old: UInt64, _ proposed: UInt64) -> UInt64
  public typealias ReadHook = (SimulatedRegisterFile, Definition) -> Void

  public let size: Int
  public let supportedWidths: AccessWidths
  @exclusivity(unchecked) public private(set) var definitions: [Definition]

  // The hot path reads only `let` buffers (no exclusivity or copy-on-write checks); the hook
  // arrays are touched only for registers whose flag byte says they have hooks.
  @usableFromInline let storage: RawBytes
  @usableFromInline let readOnlyMask: RawBytes
  @usableFromInline let w1cMask: RawBytes
  @usableFromInline let readZeroMask: RawBytes
  /// Per byte: ``hasWriteHooks`` | ``hasReadHook``; byte `size` holds ``allOnesFlag``.
  @usableFromInline let flags: RawBytes
  @usableFromInline static let hasWriteHooks: UInt64 = 1
  @usableFromInline static let hasReadHook: UInt64 = 2
  @usableFromInline static let allOnesFlag: UInt64 = 1
  // Read on every hooked access; changed only while registers and hooks are defined, never
  // from inside a hook: no dynamic exclusivity checks.
  /// Per byte: index into `definitions`, or -1.
  @exclusivity(unchecked) private var registerIndex: [Int32]
  @exclusivity(unchecked) private var hooks: [Hooks]

  /// One register's hooks. In a struct, the closures keep their own calling convention: an
  /// array of bare closures holds them generically and calls each through a thunk.
  private struct Hooks {
    var write: WriteHook?
    var legalize: LegalizeHook?
    var read: ReadHook?
  }

  /// Fault injection: every read returns all ones (a device that fell off the bus).
  public var readsAllOnes: Bool {
    get { flags.load(.byte, at: size) != 0 }
    set { flags.store(newValue ? Self.allOnesFlag : 0, .byte, at: size) }
  }

  public init(size: Int, supportedWidths: AccessWidths = .mmio, registers: [Definition]) {
    precondition(size > 0, "a register block needs a size")
    self.size = size
    self.supportedWidths = supportedWidths
    storage = RawBytes(count: size)
    readOnlyMask = RawBytes(count: size, fill: 0xff)
    w1cMask = RawBytes(count: size)
    readZeroMask = RawBytes(count: size)
    flags = RawBytes(count: size + 1)
    registerIndex = Array(repeating: -1, count: size)
    definitions = []
    hooks = []
    for definition in registers { define(definition) }
  }

  deinit {
    storage.free()
    readOnlyMask.free()
    w1cMask.free()
    readZeroMask.free()
    flags.free()
  }

  /// Adds a register. Registers must not overlap.
  public func define(_ d: Definition) {
    precondition(
      d.offset >= 0 && d.offset + d.width.rawValue <= size, "\(d.name) lies outside the block")
    precondition(d.offset % d.width.rawValue == 0, "\(d.name) is misaligned")
    let index = Int32(definitions.count)
    for byte in d.offset..<(d.offset + d.width.rawValue) {
      precondition(
        registerIndex[byte] < 0, "\(d.name) overlaps \(definitions[Int(registerIndex[byte])].name)")
      registerIndex[byte] = index
    }
    definitions.append(d)
    hooks.append(Hooks())
    readOnlyMask.store(d.readOnly, d.width, at: d.offset)
    w1cMask.store(d.writeOneToClear, d.width, at: d.offset)
    readZeroMask.store(d.writeOnly ? d.width.valueMask : 0, d.width, at: d.offset)
    storage.store(d.reset, d.width, at: d.offset)
  }

  /// The register covering `offset`, if any.
  public func definition(at offset: Int) -> Definition? {
    guard offset >= 0, offset < size else { return nil }
    let index = registerIndex[offset]
    return index < 0 ? nil : definitions[Int(index)]
  }

  /// The offset of the register covering `offset`, if any (without copying its definition).
  public func registerOffset(at offset: Int) -> Int? {
    guard offset >= 0, offset < size else { return nil }
    let index = registerIndex[offset]
    return index < 0 ? nil : definitions[Int(index)].offset
  }

  /// The register named `name`, if any.
  public func definition(named name: String) -> Definition? {
    definitions.first { $0.name == name }
  }

  private func index(at offset: Int) -> Int {
    let index = registerIndex[offset]
    precondition(index >= 0, "no register at \(hex(offset))")
    return Int(index)
  }

  private func setFlag(_ flag: UInt64, register index: Int) {
    let d = definitions[index]
    for byte in d.offset..<(d.offset + d.width.rawValue) {
      flags.store(flags.load(.byte, at: byte) | flag, .byte, at: byte)
    }
  }

  /// Runs `hook` after every software write to the register at `offset`.
  public func onWrite(at offset: Int, _ hook: @escaping WriteHook) {
    let i = index(at: offset)
    hooks[i].write = hook
    setFlag(Self.hasWriteHooks, register: i)
  }

  /// Legalises every value software writes to the register at `offset` (WARL fields).
  public func legalize(at offset: Int, _ hook: @escaping LegalizeHook) {
    let i = index(at: offset)
    hooks[i].legalize = hook
    setFlag(Self.hasWriteHooks, register: i)
  }

  /// Runs `hook` before every software read of the register at `offset`.
  public func onRead(at offset: Int, _ hook: @escaping ReadHook) {
    let i = index(at: offset)
    hooks[i].read = hook
    setFlag(Self.hasReadHook, register: i)
  }

  /// Restores every register to its reset value (hooks stay).
  public func reset() {
    for d in definitions { storage.store(d.reset, d.width, at: d.offset) }
  }

  // MARK: Backdoor: the hardware's own view, untraced, unmasked

  /// The stored value, as the hardware sees it (write-only registers included).
  @inlinable
  public func peek(_ width: AccessWidth, at offset: Int) -> UInt64 {
    precondition(offset >= 0 && offset + width.rawValue <= size, "peek outside the block")
    return storage.load(width, at: offset)
  }

  /// Sets a stored value from the hardware side: no masks, no hooks, no trace.
  @inlinable
  public func poke(_ value: UInt64, _ width: AccessWidth, at offset: Int) {
    precondition(offset >= 0 && offset + width.rawValue <= size, "poke outside the block")
    storage.store(value, width, at: offset)
  }

  public func peek<R: Register>(_: R.Type) -> R {
    R(raw: R.Raw(truncatingIfNeeded: peek(R.width, at: R.offset)))
  }

  public func poke<R: Register>(_ register: R) {
    poke(UInt64(truncatingIfNeeded: register.raw), R.width, at: R.offset)
  }

  // MARK: Software view

  @inlinable
  public func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    if flags.load(.byte, at: offset) & Self.hasReadHook != 0 { runReadHook(at: offset) }
    if flags.load(.byte, at: size) != 0 { return width.valueMask }
    return storage.load(width, at: offset) & ~readZeroMask.load(width, at: offset)
  }

  @usableFromInline
  func runReadHook(at offset: Int) {
    let index = Int(registerIndex[offset])
    hooks[index].read?(self, definitions[index])
  }

  @inlinable
  public func uncheckedWrite(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError) {
    if flags.load(.byte, at: offset) & Self.hasWriteHooks != 0 {
      writeWithHooks(value, width, at: offset)
      return
    }
    storage.store(masked(value, width, at: offset), width, at: offset)
  }

  @inlinable @inline(__always)
  func masked(_ value: UInt64, _ width: AccessWidth, at offset: Int) -> UInt64 {
    let old = storage.load(width, at: offset)
    let ro = readOnlyMask.load(width, at: offset)
    let w1c = w1cMask.load(width, at: offset)
    return (old & ro) | (value & ~ro & ~w1c) | (old & w1c & ~value)
  }

  @usableFromInline
  func writeWithHooks(_ value: UInt64, _ width: AccessWidth, at offset: Int) {
    let index = Int(registerIndex[offset])
    // The register's place, read without copying its definition (and retaining its name).
    let (base, registerWidth) = (definitions[index].offset, definitions[index].width)
    let old = storage.load(registerWidth, at: base)
    storage.store(masked(value, width, at: offset), width, at: offset)
    if let legalize = hooks[index].legalize {
      let proposed = storage.load(registerWidth, at: base)
      storage.store(legalize(old, proposed) & registerWidth.valueMask, registerWidth, at: base)
    }
    guard let hook = hooks[index].write else { return }
    let new = storage.load(registerWidth, at: base)
    hook(
      self,
      WriteEvent(
        registerOffset: base, offset: offset, width: width, value: value, oldValue: old, newValue: new))
  }
}
