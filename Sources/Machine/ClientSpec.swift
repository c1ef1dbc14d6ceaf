/// The DMA masters the machine knows.
public enum ClientKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Keeps writing received packets into its receive ring, round and round, for as long as
  /// it has bus mastering: nothing on the wire stops.
  case nic
  /// A queue of reads (device writes to memory) and writes (device reads memory). While its
  /// driver runs it keeps the queue full; once the driver is gone only the commands already
  /// queued complete.
  case storage
  /// One long transfer into a large buffer, chunk after chunk, with a 64-bit DMA mask.
  case accelerator

  public var description: String { rawValue }

  /// Buffers the driver allocates and maps: count and size.
  var buffers: (count: Int, size: UInt64) {
    switch self {
    case .nic: (8, 0x800)
    case .storage: (4, 0x1000)
    case .accelerator: (1, 0x1_0000)
    }
  }

  /// Bytes one transaction moves.
  var transferSize: Int {
    switch self {
    case .nic: 512
    case .storage: 1024
    case .accelerator: 4096
    }
  }

  /// `dma_set_mask()`: 32 bits for the NIC and the storage controller, 64 for the accelerator.
  var dmaMask: UInt64 {
    switch self {
    case .nic, .storage: 0xFFFF_FFFF
    case .accelerator: ~0
    }
  }

  /// Transactions still queued when the driver that fed the engine stops feeding it (nil:
  /// the engine never runs dry).
  var queuedWhenOrphaned: Int? {
    switch self {
    case .nic: nil
    case .storage: 12
    case .accelerator: 48
    }
  }

  /// The driver's name, the `dev_printk` prefix.
  var driverName: String {
    switch self {
    case .nic: "nic"
    case .storage: "storage"
    case .accelerator: "accel"
    }
  }

  /// PCI vendor:device the client presents on a PCI bus.
  var pciID: (vendor: UInt16, device: UInt16, classCode: UInt32) {
    switch self {
    case .nic: (0x8086, 0x10d3, 0x02_0000)
    case .storage: (0x144d, 0xa808, 0x01_0802)
    case .accelerator: (0x10de, 0x2330, 0x03_0200)
    }
  }
}

/// One client in a run: its kind and whether its driver has a `->shutdown` that quiesces it.
public struct ClientSpec: Sendable, Hashable, CustomStringConvertible {
  public var kind: ClientKind
  public var quiesced: Bool

  public init(_ kind: ClientKind, quiesced: Bool) {
    self.kind = kind
    self.quiesced = quiesced
  }

  /// `nic:q` or `nic:u`: the form the matrix prints and ``parse(_:)`` reads back.
  public var description: String { "\(kind):\(quiesced ? "q" : "u")" }

  /// The default set: one of each kind, none quiesced.
  public static let defaults = ClientKind.allCases.map { ClientSpec($0, quiesced: false) }

  /// Parses `nic,storage:quiesced,accelerator:u`: a kind, then optionally `:q`/`:quiesced`
  /// (its driver's shutdown stops it) or `:u`/`:unquiesced` (no shutdown callback, the default).
  public static func parse(_ text: String) throws(HandoverError) -> [ClientSpec] {
    var out: [ClientSpec] = []
    for item in text.split(separator: ",") {
      let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
      let name = parts[0].trimmingSpaces
      let kind = ClientKind(rawValue: name == "accel" ? "accelerator" : name)
      guard let kind else {
        let known = ClientKind.allCases.map(\.rawValue).joined(separator: ", ")
        throw HandoverError("unknown client '\(name)'; known: \(known)")
      }
      let mode = parts.count > 1 ? parts[1].trimmingSpaces : "u"
      switch mode {
      case "q", "quiesced": out.append(ClientSpec(kind, quiesced: true))
      case "u", "unquiesced": out.append(ClientSpec(kind, quiesced: false))
      default: throw HandoverError("'\(mode)' is neither q(uiesced) nor u(nquiesced)")
      }
    }
    guard !out.isEmpty else { throw HandoverError("no clients given") }
    return out
  }

  /// Every way of quiescing or not the clients of `kinds`: 2^n combinations, none quiesced first.
  public static func quiescingCombinations(of kinds: [ClientKind]) -> [[ClientSpec]] {
    (0..<(1 << kinds.count)).map { mask in
      kinds.enumerated().map { ClientSpec($0.element, quiesced: mask & (1 << $0.offset) != 0) }
    }
  }
}

/// Client sets print as `nic:u,storage:q`.
extension [ClientSpec] {
  public var specText: String { map(\.description).joined(separator: ",") }
}

extension String {
  var trimmingSpaces: String {
    // Index arithmetic, not reversed views: those instantiate generic metadata at run time.
    var start = startIndex
    var end = endIndex
    while start < end && self[start] == " " { start = index(after: start) }
    while end > start && self[index(before: end)] == " " { end = index(before: end) }
    return String(self[start..<end])
  }
}
