/// One line of a handover's timeline: when (simulated µs), in which kernel or actor, what.
public struct TimelineEvent: Sendable, Hashable, Codable, CustomStringConvertible {
  public var microseconds: UInt64
  public var actor: String
  public var text: String

  public var description: String {
    let secs = microseconds / 1_000_000
    let frac = String(microseconds % 1_000_000)
    let stamp = "\(secs)." + String(repeating: "0", count: 6 - frac.count) + frac
    return "[\(String(repeating: " ", count: max(0, 4 - String(secs).count)))\(stamp)] \(actor): \(text)"
  }
}

/// The stages of a handover, in order. DMA is accounted per stage.
public enum HandoverStage: String, Sendable, Hashable, CaseIterable, Codable {
  case oldKernelBoot = "old kernel boot"
  case oldKernelRunning = "old kernel running"
  case deviceShutdown = "device_shutdown()"
  case crash = "crash (machine_crash_shutdown)"
  case kernelLoad = "next kernel loaded, early boot"
  case nextKernelIOMMUProbe = "next kernel: IOMMU probe"
  case nextKernelClientProbe = "next kernel: client probe"
  case nextKernelRunning = "next kernel running"

  /// The stage's position in ``allCases``.
  public var index: Int {
    switch self {
    case .oldKernelBoot: 0
    case .oldKernelRunning: 1
    case .deviceShutdown: 2
    case .crash: 3
    case .kernelLoad: 4
    case .nextKernelIOMMUProbe: 5
    case .nextKernelClientProbe: 6
    case .nextKernelRunning: 7
    }
  }
}
