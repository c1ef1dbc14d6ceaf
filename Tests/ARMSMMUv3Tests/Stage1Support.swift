import IOMMUModelTesting

/// Maps `iova` to `pa` (4 KiB, writable) in the 48-bit stage-1 table rooted at `root`, taking
/// table pages from the board's DMA pool: what io-pgtable-arm does for a DMA mapping.
func mapStage1Page(_ iova: UInt64, to pa: UInt64, root: UInt64, board: ARMSMMUv3Board) throws {
  var table = root
  for level in 0..<3 {
    let slot = table + ((iova >> UInt64(39 - 9 * level)) & 0x1ff) * 8
    var desc = try board.memory.read64(slot)
    if desc & 1 == 0 {
      desc = try board.core.dmaAllocator!.allocate(size: 4096).address | 0x3
      try board.memory.write64(desc, at: slot)
    }
    table = desc & 0x0000_ffff_ffff_f000
  }
  try board.memory.write64(pa | 0x3 | 1 << 10, at: table + ((iova >> 12) & 0x1ff) * 8)
}
