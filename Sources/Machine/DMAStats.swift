/// DMA accounted over some span of a run (one phase, one device, or the whole handover).
public struct DMAStats: Sendable, Hashable, Codable {
  public var transactions = 0
  public var translated = 0
  public var bypassed = 0
  /// Aborted or faulted by the IOMMU.
  public var blocked = 0
  /// Routed to an address no RAM backs.
  public var unbacked = 0
  /// Landed where the device's current driver meant (its own buffers).
  public var delivered = 0
  /// Bytes written where they do not belong, by whose memory it was.
  public var corruptedNewKernelBytes = 0
  public var corruptedCrashKernelBytes = 0
  /// Bytes written into the old kernel's memory, which the dump saves.
  public var corruptedDumpBytes = 0
  /// Bytes written into firmware-reserved RAM.
  public var corruptedFirmwareBytes = 0
  /// Reads of memory that were not the device's own buffers (data leaking out of the machine).
  public var strayReads = 0

  public init() {}

  public var corruptedBytes: Int {
    corruptedNewKernelBytes + corruptedCrashKernelBytes + corruptedDumpBytes
      + corruptedFirmwareBytes
  }

  /// Counts one transaction the IOMMU let through, translated or bypassed.
  @inline(__always)
  mutating func countRouted(translated: Bool) {
    transactions += 1
    if translated { self.translated += 1 } else { bypassed += 1 }
  }

  @inline(__always)
  public static func += (a: inout DMAStats, b: DMAStats) {
    a.transactions += b.transactions
    a.translated += b.translated
    a.bypassed += b.bypassed
    a.blocked += b.blocked
    a.unbacked += b.unbacked
    a.delivered += b.delivered
    a.corruptedNewKernelBytes += b.corruptedNewKernelBytes
    a.corruptedCrashKernelBytes += b.corruptedCrashKernelBytes
    a.corruptedDumpBytes += b.corruptedDumpBytes
    a.corruptedFirmwareBytes += b.corruptedFirmwareBytes
    a.strayReads += b.strayReads
  }

  /// `5 tx: 3 translated, 2 bypassed; 1024 B into the crash kernel`.
  public var summary: String {
    guard transactions > 0 else { return "no DMA" }
    var routes: [String] = []
    if translated > 0 { routes.append("\(translated) translated") }
    if bypassed > 0 { routes.append("\(bypassed) bypassed") }
    if blocked > 0 { routes.append("\(blocked) blocked") }
    var fate: [String] = []
    if delivered > 0 { fate.append("\(delivered) delivered") }
    if unbacked > 0 { fate.append("\(unbacked) unbacked") }
    if strayReads > 0 { fate.append("\(strayReads) stray reads") }
    if corruptedNewKernelBytes > 0 { fate.append("\(corruptedNewKernelBytes) B into the new kernel") }
    if corruptedCrashKernelBytes > 0 {
      fate.append("\(corruptedCrashKernelBytes) B into the crash kernel")
    }
    if corruptedDumpBytes > 0 { fate.append("\(corruptedDumpBytes) B into the dump") }
    if corruptedFirmwareBytes > 0 { fate.append("\(corruptedFirmwareBytes) B into firmware") }
    return "\(transactions) tx: " + routes.joined(separator: ", ")
      + (fate.isEmpty ? "" : "; " + fate.joined(separator: ", "))
  }
}
