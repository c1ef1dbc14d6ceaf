/// The storage of 512 consecutive pages (2 MiB), each allocated on first write.
final class PageChunk {
  static let shift: UInt64 = 9
  static let mask: UInt64 = 511
  /// The 512 frames, then the number of them that hold storage and the end of the highest
  /// one given storage since the chunk was last emptied (in the same allocation, so that code
  /// holding only the frames, as the memory's hot paths do, can keep them).
  let frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>

  init() {
    frames = .allocate(capacity: Int(Self.mask) + 3)
    frames.initialize(repeating: nil, count: Int(Self.mask) + 3)
  }

  /// How many of the frames hold storage.
  static func live(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int {
    Int(bitPattern: frames[Int(mask) + 1])
  }

  /// Every frame from here on has had no storage since the chunk was last emptied.
  static func end(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int {
    Int(bitPattern: frames[Int(mask) + 2])
  }

  static func addLive(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ delta: Int) {
    frames[Int(mask) + 1] = UnsafeMutableRawPointer(bitPattern: live(frames) + delta)
  }

  /// Notes that frame `slot` was given storage.
  static func noteUsed(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, slot: Int) {
    if slot >= end(frames) { frames[Int(mask) + 2] = UnsafeMutableRawPointer(bitPattern: slot + 1) }
  }

  /// Notes that no frame holds storage any more.
  static func empty(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
    frames[Int(mask) + 1] = nil
    frames[Int(mask) + 2] = nil
  }

  deinit {
    for i in 0...Int(Self.mask) { frames[i]?.deallocate() }
    frames.deallocate()
  }
}
