/// A read-only image of a register block or a configuration space, captured earlier
/// (a debugfs `iommu_regset`, an `lspci -xxxx` dump, a test fixture).
///
/// It conforms to ``RegisterIO`` only: writing to a snapshot does not compile. Bytes past
/// `available` were not captured (a non-root `lspci -x` shows 64 bytes of 256) and reading them
/// is out of bounds, never zero.
public final class SnapshotRegisterIO: RegisterIO {
  public let size: Int
  public let supportedWidths: AccessWidths
  @usableFromInline let bytes: RawBytes

  /// - Parameters:
  ///   - bytes: the captured image, little-endian.
  ///   - supportedWidths: `.mmio` for a register block, `.configSpace` for PCI config space.
  public init(bytes: [UInt8], supportedWidths: AccessWidths = .mmio) {
    size = bytes.count
    self.supportedWidths = supportedWidths
    self.bytes = RawBytes(count: bytes.count)
    for (i, b) in bytes.enumerated() { self.bytes.store(UInt64(b), .byte, at: i) }
  }

  /// An image of `size` bytes built from register values (offset → value of `width`).
  public convenience init(
    size: Int, registers: [(offset: Int, width: AccessWidth, value: UInt64)],
    supportedWidths: AccessWidths = .mmio
  ) {
    var image = [UInt8](repeating: 0, count: size)
    for r in registers {
      for i in 0..<r.width.rawValue where r.offset + i < size {
        image[r.offset + i] = UInt8(truncatingIfNeeded: r.value >> (8 * UInt64(i)))
      }
    }
    self.init(bytes: image, supportedWidths: supportedWidths)
  }

  deinit { bytes.free() }

  @inlinable
  public func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    bytes.load(width, at: offset)
  }
}
