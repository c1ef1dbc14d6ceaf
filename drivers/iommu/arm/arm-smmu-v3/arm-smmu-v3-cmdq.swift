import DeviceCore
import Kernel
import MMIO

/// `struct arm_smmu_cmdq_ent`: a command before it is encoded.
enum ARMSMMUCommand: Sendable, Hashable {
  case prefetchConfig(sid: UInt32)
  case cfgiSTE(sid: UInt32, leaf: Bool)
  /// CMDQ_OP_CFGI_ALL: CFGI_STE_RANGE covering every stream ID.
  case cfgiAll
  case cfgiCD(sid: UInt32, ssid: UInt32, leaf: Bool)
  case tlbiNHASID(asid: UInt16)
  case tlbiEL2All
  case tlbiNSNHAll
  case tlbiS12VMAll(vmid: UInt16)
  case sync(msiAddress: UInt64)

  /// Mirrors arm_smmu_cmdq_build_cmd(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  var encoded: (UInt64, UInt64) {
    switch self {
    case .prefetchConfig(let sid): return (0x01 | UInt64(sid) << 32, 0)
    case .cfgiSTE(let sid, let leaf): return (0x03 | UInt64(sid) << 32, leaf ? 1 : 0)
    case .cfgiAll: return (0x04, 31)  // RANGE=31 covers the entire SID range
    case .cfgiCD(let sid, let ssid, let leaf):
      return (0x05 | UInt64(ssid) << 12 | UInt64(sid) << 32, leaf ? 1 : 0)
    case .tlbiNHASID(let asid): return (0x11 | UInt64(asid) << 48, 0)
    case .tlbiEL2All: return (0x20, 0)
    case .tlbiNSNHAll: return (0x30, 0)
    case .tlbiS12VMAll(let vmid): return (0x28 | UInt64(vmid) << 32, 0)
    case .sync(let msiAddress):
      // CS=IRQ with an MSI address when polling by MSI, else CS=SEV; MSH=ISH, MSIATTR=OIWB.
      let cs: UInt64 = msiAddress != 0 ? 1 : 2
      return (0x46 | cs << 12 | 3 << 22 | 0xf << 24, msiAddress & UInt64.mask(2...51))
    }
  }
}

extension ARMSMMUv3Device {
  /// Mirrors queue_poll(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2): spin
  /// ARM_SMMU_POLL_SPIN_COUNT times, then udelay with an exponentially growing delay, until
  /// ARM_SMMU_POLL_TIMEOUT_US has passed. Returns false on timeout.
  struct QueuePoll {
    var timeout: UInt64
    var delay: UInt64 = 1
    var spinCount = 0
  }

  func queuePollInit() -> QueuePoll {
    QueuePoll(timeout: (clock?.ktimeGet() ?? 0) + ARM_SMMU_POLL_TIMEOUT_US * 1_000)
  }

  func queuePoll(_ qp: inout QueuePoll) -> Bool {
    guard let clock else { return false }
    if clock.ktimeGet() > qp.timeout { return false }
    if qp.spinCount < ARM_SMMU_POLL_SPIN_COUNT {
      clock.advance(nanoseconds: clock.busyWaitStepNanoseconds)
      qp.spinCount += 1
    } else {
      clock.udelay(qp.delay)
      qp.delay *= 2
      qp.spinCount = 0
    }
    return true
  }

  /// Mirrors arm_smmu_cmdq_issue_cmdlist(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
  /// (Linux 7.2), for one CPU: wait for space, write the commands (and a CMD_SYNC) into the
  /// queue, publish PROD, and with a sync wait for it: by MSI write into the sync slot when
  /// ARM_SMMU_OPT_MSIPOLL is set, else by reading CMDQ_CONS until it has passed the sync.
  ///
  /// Generic over the list so a single command or a lazily mapped one needs no array.
  func cmdqIssueCmdlist(_ commands: some Collection<ARMSMMUCommand>, sync: Bool) throws(Errno) {
    let n = UInt32(commands.count + (sync ? 1 : 0))
    var qp = queuePollInit()
    while !cmdq.hasSpace(n) {
      // arm_smmu_cmdq_poll_until_not_full(): refresh CONS from the hardware.
      cmdq.cons = try readl(cmdq.consRegister)
      if !cmdq.hasSpace(n) && !queuePoll(&qp) {
        // The kernel retries forever here; the model gives up so a stuck queue ends the run.
        dev.err("CMDQ timeout")
        throw .ETIMEDOUT
      }
    }
    var prod = cmdq.prod
    for command in commands {
      try writeCommand(command, at: prod)
      prod = cmdq.incProd(prod, by: 1)
    }
    let syncProd = prod
    if sync {
      let msi = options.contains(.msiPoll) ? cmdq.entryAddress(syncProd) : 0
      try writeCommand(.sync(msiAddress: msi), at: syncProd)
      prod = cmdq.incProd(prod, by: 1)
    }
    cmdq.prod = prod
    try writel(prod, cmdq.prodRegister)
    guard sync else { return }
    if options.contains(.msiPoll) {
      try pollUntilMSI(syncProd)
    } else {
      try pollUntilConsumed(syncProd)
    }
  }

  private func writeCommand(_ command: ARMSMMUCommand, at prod: UInt32) throws(Errno) {
    let (w0, w1) = command.encoded
    let address = cmdq.entryAddress(prod)
    try write64(w0, at: address)
    try write64(w1, at: address + 8)
  }

  /// Mirrors __arm_smmu_cmdq_poll_until_consumed(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
  /// (Linux 7.2).
  private func pollUntilConsumed(_ syncProd: UInt32) throws(Errno) {
    var qp = queuePollInit()
    repeat {
      cmdq.cons = try readl(cmdq.consRegister)
      if cmdq.consumed(syncProd) { return }
    } while queuePoll(&qp)
    try syncTimedOut(syncProd)
  }

  /// Mirrors __arm_smmu_cmdq_poll_until_msi(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
  /// (Linux 7.2): the SMMU's MSI write of MSIDATA (0) clears the sync's first word.
  private func pollUntilMSI(_ syncProd: UInt32) throws(Errno) {
    var qp = queuePollInit()
    let address = cmdq.entryAddress(syncProd)
    repeat {
      if try read64(address) & 0xffff_ffff == 0 {
        cmdq.cons = cmdq.incProd(syncProd, by: 1)
        return
      }
    } while queuePoll(&qp)
    cmdq.cons = cmdq.prod
    try syncTimedOut(syncProd)
  }

  private func syncTimedOut(_ syncProd: UInt32) throws(Errno) {
    let hwProd = try readl(cmdq.prodRegister)
    let hwCons = try readl(cmdq.consRegister)
    dev.err(
      "CMD_SYNC timeout at \(hex(syncProd, digits: 8)) [hwprod \(hex(hwProd, digits: 8)), hwcons \(hex(hwCons, digits: 8))]"
    )
    throw .ETIMEDOUT
  }

  /// Mirrors arm_smmu_cmdq_issue_cmd(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2).
  func cmdqIssueCmd(_ command: ARMSMMUCommand) throws(Errno) {
    try cmdqIssueCmdlist(CollectionOfOne(command), sync: false)
  }

  /// Mirrors arm_smmu_cmdq_issue_cmd_with_sync(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
  /// (Linux 7.2).
  func cmdqIssueCmdWithSync(_ command: ARMSMMUCommand) throws(Errno) {
    try cmdqIssueCmdlist(CollectionOfOne(command), sync: true)
  }
}
