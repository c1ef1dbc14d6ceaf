/// One buffer a driver gave its device: the address the device uses and where it really is.
public struct DMASegment: Sendable, Hashable {
  public var iova: UInt64
  public var physical: UInt64
  public var size: UInt64
}

/// What a driver programmed into a device: its buffers, and which kernel's memory they are in
/// (`old`, `new`, `crash`), so writes into them can be told apart from corruption.
public struct DMAProgram: Sendable, Hashable {
  public var generation: String
  public var segments: [DMASegment]
}

/// One transaction the engine issues.
public struct DMATransaction: Sendable, Hashable {
  public var iova: UInt64
  public var length: Int
  /// A write to memory (a received packet, a disk read); false for a read of memory.
  public var isWrite: Bool
  /// Where the driver meant it to land.
  public var intended: UInt64
}

/// The DMA engine of one client: it walks the buffers it was programmed with, one transaction
/// at a time, whatever the kernels are doing, until its driver quiesces it.
public final class DMAEngine {
  public let kind: ClientKind
  @exclusivity(unchecked) public private(set) var program: DMAProgram?
  /// Stopped by a `->shutdown()` that quiesces, or never programmed.
  @exclusivity(unchecked) public private(set) var isRunning = false
  /// Transactions left before the engine runs dry; nil while a driver keeps feeding it.
  @exclusivity(unchecked) public private(set) var remaining: Int?
  // Advanced on every transaction, never from two places at once: no dynamic exclusivity checks.
  // Where the engine is in its program: the transfer within the current segment, the segments
  // walked so far and the segment that index falls on (counters kept so that a transaction
  // takes no division), and the program's segments and transfers per segment, set at start.
  @exclusivity(unchecked) private var transfer = 0
  @exclusivity(unchecked) private var round = 0
  @exclusivity(unchecked) private var slot = 0
  @exclusivity(unchecked) private var segments: [DMASegment] = []
  @exclusivity(unchecked) private var perSegment = 1
  /// The number of the memory region its last transaction landed in (see
  /// ``PhysicalMemory/ownerID(ofBacked:length:hint:)``): its transactions keep to its buffers.
  @exclusivity(unchecked) var regionHint = 0
  /// The bytes every write carries (a recognisable pattern per kind).
  let payload: [UInt8]
  /// The kind's transfer size, and whether it alternates writes to memory with reads of it
  /// (storage): read on every transaction, so kept rather than switched on each time.
  private let transferSize: Int
  private let alternates: Bool

  init(kind: ClientKind) {
    self.kind = kind
    transferSize = kind.transferSize
    alternates = kind == .storage
    // A switch, not a dictionary: no hashing for each engine of each machine.
    switch kind {
    case .nic: payload = Self.nicPayload
    case .storage: payload = Self.storagePayload
    case .accelerator: payload = Self.acceleratorPayload
    }
  }

  /// One recognisable payload per kind, made once.
  static let nicPayload = payload(of: .nic)
  static let storagePayload = payload(of: .storage)
  static let acceleratorPayload = payload(of: .accelerator)

  private static func payload(of kind: ClientKind) -> [UInt8] {
    let tag = UInt8(truncatingIfNeeded: kind.rawValue.utf8.first ?? 0x44)
    return (0..<kind.transferSize).map { UInt8(truncatingIfNeeded: $0) ^ tag }
  }

  /// A driver programs the engine and starts it (it keeps feeding it from now on).
  func start(_ program: DMAProgram) {
    self.program = program
    segments = program.segments
    perSegment = segments.isEmpty ? 1 : Int(max(1, segments[0].size / UInt64(kind.transferSize)))
    transfer = 0
    round = 0
    slot = 0
    remaining = nil
    isRunning = true
  }

  /// `->shutdown()` quiesced the device: no more transactions.
  func quiesce() { isRunning = false }

  /// The driver that fed the engine is gone (its kernel stopped): only queued work completes.
  func orphan() {
    guard isRunning, remaining == nil, let queued = kind.queuedWhenOrphaned else { return }
    remaining = queued
  }

  /// The next transaction, or nil when the engine is stopped or has run dry.
  func next() -> DMATransaction? {
    guard isRunning, !segments.isEmpty else { return nil }
    if let r = remaining {
      guard r > 0 else { return nil }
      remaining = r - 1
    }
    let segment = segments[slot]
    let offset = UInt64(transfer) * UInt64(transferSize)
    // Storage alternates disk reads (writes to memory) and disk writes (reads of memory).
    let isWrite = !alternates || round % 2 == 0
    transfer += 1
    if transfer == perSegment {
      transfer = 0
      round += 1
      slot = slot + 1 == segments.count ? 0 : slot + 1
    }
    return DMATransaction(
      iova: segment.iova + offset, length: transferSize, isWrite: isWrite,
      intended: segment.physical + offset)
  }
}
