import DeviceCore
import Kernel
import MMIO
import Memory

extension ARMSMMUv3Device {
  /// Mirrors arm_smmu_init_one_queue(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// allocates the queue naturally aligned, halving it while the allocation fails, and computes
  /// the *_BASE value (RWA, address, LOG2SIZE).
  func initOneQueue(_ q: inout ARMSMMUQueue, prod: Int, cons: Int) throws(Errno) {
    var qsz: UInt64
    var buffer: DMABuffer?
    repeat {
      qsz = (UInt64(1) << q.maxNShift) * UInt64(q.entryDwords) << 3
      buffer = try? dev.dmaAllocCoherent(size: qsz, alignment: qsz)
      if buffer != nil || qsz < 4096 { break }
      q.maxNShift -= 1
    } while true
    guard let buffer else {
      dev.err("failed to allocate queue (0x\(String(qsz, radix: 16)) bytes) for \(q.name)")
      throw .ENOMEM
    }
    dev.info("allocated \(1 << q.maxNShift) entries for \(q.name)")
    q.buffer = buffer
    q.prodRegister = prod
    q.consRegister = cons
    q.qBase = Queue.BASE_RWA | (buffer.address & Queue.BASE_ADDR_MASK) | UInt64(q.maxNShift)
    q.prod = 0
    q.cons = 0
  }

  /// Mirrors arm_smmu_init_queues(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// cmdq on page 0, evtq and (with PRI) priq on page 1.
  func initQueues() throws(Errno) {
    try initOneQueue(&cmdq, prod: Reg.CMDQ_PROD, cons: Reg.CMDQ_CONS)
    try initOneQueue(&evtq, prod: page1 + Reg.EVTQ_PROD, cons: page1 + Reg.EVTQ_CONS)
    guard features.contains(.pri) else { return }
    try initOneQueue(&priq, prod: page1 + Reg.PRIQ_PROD, cons: page1 + Reg.PRIQ_CONS)
  }

  /// Mirrors arm_smmu_init_initial_stes(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
  /// (Linux 7.2): every entry becomes an abort STE (V=1, CFG=ABORT) since disable_bypass was
  /// retired.
  func initInitialSTEs(at address: UInt64, count: Int) throws(Errno) {
    guard let memory else { throw .ENOMEM }
    // The kernel copies the whole 64-byte STE into each entry; one write of the table built
    // here stores the same bytes without a memory lookup per entry (hundreds of them). An L2
    // table's image, the same for every one, is built once.
    let table = count == Strtab.NUM_L2_STES ? Self.abortL2Table : Self.abortTable(count: count)
    do { try memory.write(table, at: address) } catch { throw .EFAULT }
  }

  /// `count` abort STEs, as the bytes the table holds.
  static func abortTable(count: Int) -> [UInt8] {
    let abort = STE.abort
    return [UInt8](unsafeUninitializedCapacity: count * 64) { bytes, initialized in
      let words = UnsafeMutableRawBufferPointer(bytes)
      for i in 0..<count {
        for w in 0..<8 {
          words.storeBytes(of: abort[w].littleEndian, toByteOffset: i * 64 + w * 8, as: UInt64.self)
        }
      }
      initialized = count * 64
    }
  }

  static let abortL2Table = abortTable(count: Strtab.NUM_L2_STES)

  /// Mirrors arm_smmu_init_strtab_2lvl(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// the L1 table only; L2 tables come with the masters.
  func initStrtab2Level() throws(Errno) {
    let lastSIDIndex = UInt32(((UInt64(1) << sidBits) - 1) >> UInt64(Strtab.SPLIT))
    strtab.numL1Entries = min(lastSIDIndex + 1, Strtab.MAX_L1_ENTRIES)
    if strtab.numL1Entries <= lastSIDIndex {
      let covered = ilog2(UInt64(strtab.numL1Entries) * UInt64(Strtab.NUM_L2_STES))
      dev.warn("2-level strtab only covers \(covered)/\(sidBits) bits of SID")
    }
    let l1size = UInt64(strtab.numL1Entries) * 8
    guard let l1 = try? dev.dmaAllocCoherent(size: l1size) else {
      dev.err("failed to allocate l1 stream table (\(l1size) bytes)")
      throw .ENOMEM
    }
    strtab.l1 = l1
  }

  /// Mirrors arm_smmu_init_strtab_linear(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  func initStrtabLinear() throws(Errno) {
    let size = (UInt64(1) << sidBits) * 64
    guard let table = try? dev.dmaAllocCoherent(size: size) else {
      dev.err("failed to allocate linear stream table (\(size) bytes)")
      throw .ENOMEM
    }
    strtab.linear = table
    strtab.numLinearEntries = 1 << sidBits
    try initInitialSTEs(at: table.address, count: Int(strtab.numLinearEntries))
  }

  /// Mirrors arm_smmu_init_structures(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  func initStructures() throws(Errno) {
    try initQueues()
    if features.contains(.twoLevelStrtab) {
      try initStrtab2Level()
    } else {
      try initStrtabLinear()
    }
  }

  /// Mirrors arm_smmu_init_l2_strtab(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// the L2 table covering `sid`, filled with abort STEs, then published in its L1 descriptor
  /// (SPAN = SPLIT + 1).
  func initL2Strtab(sid: UInt32) throws(Errno) {
    let index = sid >> Strtab.SPLIT
    if strtab.l2[index] != nil { return }
    guard let l1 = strtab.l1, let l2 = try? dev.dmaAllocCoherent(size: UInt64(Strtab.NUM_L2_STES) * 64)
    else {
      dev.err("failed to allocate l2 stream table for SID \(sid)")
      throw .ENOMEM
    }
    strtab.l2[index] = l2
    try initInitialSTEs(at: l2.address, count: Strtab.NUM_L2_STES)
    let desc = (l2.address & Strtab.L1_DESC_L2PTR_MASK) | UInt64(Strtab.SPLIT + 1)
    try write64(desc, at: l1.address + UInt64(index) * 8)
  }

  /// Mirrors arm_smmu_get_step_for_sid(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
  /// (Linux 7.2): the address of `sid`'s STE.
  func steAddress(sid: UInt32) -> UInt64? {
    if features.contains(.twoLevelStrtab) {
      guard let l2 = strtab.l2[sid >> Strtab.SPLIT] else { return nil }
      return l2.address + UInt64(sid & UInt32(Strtab.NUM_L2_STES - 1)) * 64
    }
    guard let linear = strtab.linear else { return nil }
    return linear.address + UInt64(sid) * 64
  }

  /// Mirrors arm_smmu_sid_in_range(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  func sidInRange(_ sid: UInt32) -> Bool {
    if features.contains(.twoLevelStrtab) {
      return (sid >> Strtab.SPLIT) < strtab.numL1Entries
    }
    return sid < strtab.numLinearEntries
  }
}
