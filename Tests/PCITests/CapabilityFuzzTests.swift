import MMIO
import PCI
import Testing

/// SplitMix64: a small seeded generator, so every run feeds the same bytes.
struct SeededRandom: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

@Suite("Capability walk on random and mutated config space")
struct CapabilityFuzzTests {
  @Test("random images of every size: the walk ends, stays in bounds and decodes only what it can read")
  func random() {
    var rng = SeededRandom(seed: 0x10AA)
    for round in 0..<200 {
      let size = [0, 1, 7, 63, 64, 65, 255, 256, 300, 4096][round % 10]
      var bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
      // Make lists likely: set Status.CapList and point into the capability area.
      if size > 0x34 {
        bytes[0x06] |= 0x10
        bytes[0x34] = UInt8.random(in: 0x40...0xfc, using: &rng)
      }
      let io = SnapshotRegisterIO(bytes: bytes, supportedWidths: .configSpace)
      let walk = PCICapabilities.walk(io)
      #expect(walk.capabilities.count <= 48 + 480)
      for cap in walk.capabilities {
        #expect(cap.offset >= 0x40 && cap.offset < size)
        for r in PCICapabilities.decode(cap, in: io) { #expect(r.offset + r.width.rawValue <= size) }
      }
    }
  }

  @Test("mutating one byte of a well-formed image at a time never traps")
  func mutated() {
    var base = [UInt8](repeating: 0, count: 4096)
    for (at, v) in [(0x06, 0x10), (0x34, 0x40), (0x40, 0x10), (0x41, 0x80), (0x42, 0x42), (0x80, 0x11)] {
      base[at] = UInt8(v)
    }
    base[0x100...0x103] = [0x0d, 0x00, 0x01, 0x14]
    var rng = SeededRandom(seed: 7)
    for _ in 0..<150 {
      var b = base
      let at = [0x06, 0x34, 0x40, 0x41, 0x42, 0x80, 0x81, 0x100, 0x101, 0x102, 0x103].randomElement(using: &rng) ?? 0
      b[at] = UInt8.random(in: 0...255, using: &rng)
      let walk = PCICapabilities.walk(SnapshotRegisterIO(bytes: b, supportedWidths: .configSpace))
      #expect(walk.capabilities.allSatisfy { $0.offset < 4096 })
    }
  }
}
