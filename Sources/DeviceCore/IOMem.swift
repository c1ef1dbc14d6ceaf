import Kernel
import MMIO

/// `void __iomem *` for a device's resource: the accessor drivers use (`readl`, `writeq`, typed
/// registers). It stands between the driver and the register block so the driver core can
/// enforce shutdown: an access after the device was shut down or removed is recorded as a
/// violation and, when the driver core is strict, refused with -ENXIO (Rust-for-Linux's revoked
/// `Devres`).
///
/// Errors from the backend (bounds, alignment, width) come back as -EINVAL, and the precise
/// ``IOError`` is kept in ``lastError`` for the report.
public final class IOMem {
  public unowned let device: Device
  public let resource: DeviceResource
  public private(set) var lastError: IOError?
  /// The backend's size and access widths, read once (a register block's never change):
  /// accesses are checked here, instead of asking the backend through its existential (and,
  /// for the machine's tap, through its base's) twice on every access.
  private let ioSize: Int
  private let ioWidths: AccessWidths
  /// `device`, read on every access without the retain and release an unowned reference
  /// takes around each use. Safe: an IOMem comes from its device's `ioremap()` for the driver
  /// bound to it, and the driver core keeps every device it registered for as long as its
  /// drivers run (an access after the device was gone trapped on the unowned reference before).
  private let accessDevice: Unmanaged<Device>

  init(device: Device, resource: DeviceResource) {
    self.device = device
    accessDevice = .passUnretained(device)
    self.resource = resource
    ioSize = resource.io.size
    ioWidths = resource.io.supportedWidths
  }

  public var size: Int { resource.size }

  @inline(__always)
  private func admit(_ offset: Int) throws(Errno) {
    switch accessDevice._withUnsafeGuaranteedRef({ $0.state }) {
    case .shutDown, .removed:
      device.core?.record(.mmioAfterShutdown(device: device.name, offset: offset))
      if device.core?.strictEnforcement ?? false {
        lastError = .revoked(device: device.name, offset: offset)
        throw .ENXIO
      }
    default: break
    }
  }

  private func fail(_ e: IOError) -> Errno {
    lastError = e
    device.err("MMIO \(e)")
    return .EINVAL
  }

  /// ``MMIO/RegisterIO/read(_:at:)`` with the size and widths at hand.
  public func read(_ width: AccessWidth, at offset: Int) throws(Errno) -> UInt64 {
    try admit(offset)
    do {
      try checkRegisterAccess(width, at: offset, size: ioSize, supportedWidths: ioWidths)
      return try resource.io.uncheckedRead(width, at: offset)
    } catch { throw fail(error) }
  }

  /// ``MMIO/WritableRegisterIO/write(_:_:at:)`` with the size and widths at hand.
  public func write(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(Errno) {
    try admit(offset)
    do {
      try checkRegisterAccess(width, at: offset, size: ioSize, supportedWidths: ioWidths)
      try resource.io.uncheckedWrite(value & width.valueMask, width, at: offset)
    } catch { throw fail(error) }
  }

  public func readb(_ offset: Int) throws(Errno) -> UInt8 {
    UInt8(truncatingIfNeeded: try read(.byte, at: offset))
  }
  public func readw(_ offset: Int) throws(Errno) -> UInt16 {
    UInt16(truncatingIfNeeded: try read(.word, at: offset))
  }
  public func readl(_ offset: Int) throws(Errno) -> UInt32 {
    UInt32(truncatingIfNeeded: try read(.dword, at: offset))
  }
  public func readq(_ offset: Int) throws(Errno) -> UInt64 { try read(.qword, at: offset) }
  public func writeb(_ value: UInt8, _ offset: Int) throws(Errno) {
    try write(UInt64(value), .byte, at: offset)
  }
  public func writew(_ value: UInt16, _ offset: Int) throws(Errno) {
    try write(UInt64(value), .word, at: offset)
  }
  public func writel(_ value: UInt32, _ offset: Int) throws(Errno) {
    try write(UInt64(value), .dword, at: offset)
  }
  public func writeq(_ value: UInt64, _ offset: Int) throws(Errno) {
    try write(value, .qword, at: offset)
  }

  /// Reads a typed register.
  public func read<R: Register>(_: R.Type) throws(Errno) -> R {
    R(raw: R.Raw(truncatingIfNeeded: try read(R.width, at: R.offset)))
  }

  /// Writes a typed register.
  public func write<R: Register>(_ register: R) throws(Errno) {
    try write(UInt64(truncatingIfNeeded: register.raw), R.width, at: R.offset)
  }

  /// Read-modify-write that never writes back write-1-to-clear bits it did not mean to clear
  /// (see ``MMIO/WritableRegisterIO/update(_:_:)``).
  @discardableResult
  public func update<R: Register>(_: R.Type, _ body: (inout R) -> Void) throws(Errno) -> R {
    let old = try read(R.self)
    var new = old
    body(&new)
    let written = R.valueToWrite(old: old, wanted: new)
    try write(written)
    return written
  }

  /// `readx_poll_timeout()` on a register of this block, with the kernel's clock.
  // Inlinable, as the clock's readPollTimeout is: the drivers' polls specialise.
  @inlinable
  public func pollTimeout<T>(
    sleepUs: UInt64, timeoutUs: UInt64, _ op: () throws(Errno) -> T, until cond: (T) -> Bool
  ) throws(Errno) -> Polled<T> {
    guard let clock = kernelClock else { throw .ENODEV }
    return try clock.readPollTimeout(sleepUs: sleepUs, timeoutUs: timeoutUs, op, until: cond)
  }

  /// The device's kernel's clock, kept once found (a kernel's clock is a `let`, and a device
  /// stays in its kernel): each poll reached it through the device's `core`.
  @usableFromInline var kernelClock: SimulatedClock? {
    if let clock = cachedClock { return clock }
    cachedClock = device.kernel?.clock
    return cachedClock
  }
  private var cachedClock: SimulatedClock?
}
