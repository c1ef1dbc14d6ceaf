import DeviceCore
import Kernel
import MMIO
import Memory

/// The subset of drivers/iommu/io-pgtable-arm.c (Linux 7.2) the SMMU's paging domains need:
/// ARM_64_LPAE_S1 and ARM_64_LPAE_S2 with the 4 KiB granule, tables allocated from the DMA
/// pool of the SMMU device and written to physical memory, 4 KiB page mappings.
///
/// Not modelled: block mappings, unmap, the 16/64 KiB granules, stage-2 concatenated tables,
/// the AArch32 and v7s formats, TLB maintenance on map (none is needed for new mappings).
public final class ARMLPAEPageTable {
  public let stage1: Bool
  public let ias: Int
  public let oas: Int
  /// Physical address of the top-level table (TTBR0 / VTTBR base).
  public let root: UInt64
  /// The first lookup level (0 for 48-bit input).
  public let startLevel: Int
  let device: Device
  let memory: PhysicalMemory

  /// TCR (stage 1) or VTCR (stage 2) as arm_smmu_lpae_tcr() / arm_smmu_lpae_vtcr() build it.
  public let tcr: UInt32
  /// TCR2 as arm_smmu_lpae_tcr2() builds it, with TCR2.AS for the AArch64 format.
  public let tcr2: UInt32
  /// MAIR for stage 1 (`ARM_LPAE_MAIR_ATTR_*` at indices 0..3).
  public let mair: UInt64 = 0xf404_ff44

  /// Mirrors arm_64_lpae_alloc_pgtable_s1() / _s2(), drivers/iommu/io-pgtable-arm.c (Linux
  /// 7.2), for the 4 KiB granule: computes the table geometry and the TCR/VTCR fields, and
  /// allocates the top-level table.
  init(device: Device, stage1: Bool, ias: Int, oas: Int, coherentWalk: Bool) throws(Errno) {
    guard let memory = device.core?.memory else { throw .ENOMEM }
    self.device = device
    self.memory = memory
    self.stage1 = stage1
    self.ias = ias
    self.oas = oas
    let levels = (ias - 12 + 8) / 9
    startLevel = 4 - levels
    root = try device.dmaAllocCoherent(size: PhysicalMemory.pageSize).address
    let ips: UInt32 =
      switch oas {
      case 32: 0
      case 36: 1
      case 40: 2
      case 42: 3
      case 44: 4
      default: 5
      }
    // Inner-shareable write-back walks when coherent, outer-shareable non-cacheable otherwise.
    let sh: UInt32 = coherentWalk ? 3 : 2
    let rgn: UInt32 = coherentWalk ? 1 : 0
    var t: UInt32 = 0
    t[bits: CBBits.TCR_SH0] = sh
    t[bits: CBBits.TCR_ORGN0] = rgn
    t[bits: CBBits.TCR_IRGN0] = rgn
    t[bits: CBBits.TCR_T0SZ] = UInt32(64 - ias)
    if stage1 {
      t |= CBBits.TCR_EPD1
      var t2: UInt32 = CBBits.TCR2_AS
      t2[bits: CBBits.TCR2_PASIZE] = ips
      t2[bits: CBBits.TCR2_SEP] = CBBits.TCR2_SEP_UPSTREAM
      tcr2 = t2
    } else {
      // VTCR: RES1, PS, and SL0 = ~(start level + 1) & 3 for the 4 KiB granule.
      t |= 1 << 31
      t[bits: 16...18] = ips
      t[bits: 6...7] = ~UInt32(startLevel + 1) & 3
      tcr2 = 0
    }
    tcr = t
  }

  /// Mirrors arm_lpae_map_pages(), drivers/iommu/io-pgtable-arm.c (Linux 7.2), for 4 KiB pages:
  /// maps `size` bytes at `iova` to `paddr`, read-only unless `write`, allocating intermediate
  /// tables as needed.
  public func map(iova: UInt64, paddr: UInt64, size: UInt64, write: Bool = true) throws(Errno) {
    guard iova & 0xfff == 0, paddr & 0xfff == 0, size & 0xfff == 0, size > 0 else { throw .EINVAL }
    guard (iova + size - 1) >> UInt64(ias) == 0 else { throw .ERANGE }
    var offset: UInt64 = 0
    while offset < size {
      try mapPage(iova: iova + offset, paddr: paddr + offset, write: write)
      offset += 0x1000
    }
  }

  private func mapPage(iova: UInt64, paddr: UInt64, write: Bool) throws(Errno) {
    var table = root
    var level = startLevel
    while level < 3 {
      let slot = table + ((iova >> UInt64(12 + 9 * (3 - level))) & 0x1ff) * 8
      let pte = try read(slot)
      if pte & 1 == 0 {
        let next = try device.dmaAllocCoherent(size: PhysicalMemory.pageSize).address
        try store(next | 0x3, at: slot)
        table = next
      } else {
        guard pte & 2 != 0 else { throw .EEXIST }
        table = pte & 0x0000_ffff_ffff_f000
      }
      level += 1
    }
    let slot = table + ((iova >> 12) & 0x1ff) * 8
    guard try read(slot) & 1 == 0 else { throw .EEXIST }
    // Page, AF, inner-shareable; stage 1: nG, AP_UNPRIV, cacheable index, AP_RDONLY when
    // read-only; stage 2: S2AP read (and write), outer/inner write-back.
    var pte = paddr | 0x3 | (1 << 10) | (3 << 8)
    if stage1 {
      pte |= (1 << 11) | (1 << 6) | (1 << 2)
      if !write { pte |= 1 << 7 }
    } else {
      pte |= (1 << 6) | (0xf << 2)
      if write { pte |= 1 << 7 }
    }
    try store(pte, at: slot)
  }

  private func read(_ address: UInt64) throws(Errno) -> UInt64 {
    do { return try memory.read64(address) } catch { throw .EFAULT }
  }

  private func store(_ value: UInt64, at address: UInt64) throws(Errno) {
    do { try memory.write64(value, at: address) } catch { throw .EFAULT }
  }
}
