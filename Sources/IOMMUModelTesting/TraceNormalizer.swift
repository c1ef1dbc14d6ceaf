import MMIO

/// Makes two access traces comparable when they differ only in addresses an allocator chose
/// (queue bases, table roots): within each listed register, the bits under the field mask are
/// renumbered by first appearance (the first distinct non-zero address becomes 1, the next 2,
/// ...). Equal addresses stay equal and distinct ones stay distinct, so a write and its
/// read-back still match, and offsets, widths, order and control bits are compared exactly.
///
/// ```swift
/// let n = TraceNormalizer(addressFields: [0x18: ppnMask, 0x10: ppnMask])
/// #expect(n.normalize(model) == n.normalize(reference))
/// ```
public struct TraceNormalizer: Sendable {
  /// Register offset to the mask of its address bits.
  public var addressFields: [Int: UInt64]

  public init(addressFields: [Int: UInt64]) {
    self.addressFields = addressFields
  }

  /// The trace with every address field renumbered.
  public func normalize(_ accesses: [MMIOAccess]) -> [MMIOAccess] {
    var numbers: [UInt64: UInt64] = [:]
    return accesses.map { access in
      guard let mask = addressFields[access.offset], mask != 0 else { return access }
      let shift = UInt64(mask.trailingZeroBitCount)
      let address = access.value & mask
      guard address != 0 else { return access }
      let n: UInt64
      if let known = numbers[address] {
        n = known
      } else {
        n = UInt64(numbers.count + 1)
        numbers[address] = n
      }
      var normalized = access
      normalized.value = (access.value & ~mask) | ((n << shift) & mask)
      return normalized
    }
  }

  /// Normalised canonical lines.
  public func normalizedLines(_ accesses: [MMIOAccess]) -> [String] {
    normalize(accesses).map(\.description)
  }

  /// The first position where two traces differ after normalisation, with both lines (nil
  /// for a missing line), or nil when they are equal.
  public func firstDifference(_ a: [MMIOAccess], _ b: [MMIOAccess]) -> (index: Int, a: String?, b: String?)? {
    let na = normalizedLines(a)
    let nb = normalizedLines(b)
    for i in 0..<max(na.count, nb.count) {
      let x = i < na.count ? na[i] : nil
      let y = i < nb.count ? nb[i] : nil
      if x != y { return (i, x, y) }
    }
    return nil
  }
}
