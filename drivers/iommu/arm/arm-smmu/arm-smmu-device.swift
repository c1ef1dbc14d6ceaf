import DeviceCore
import Kernel
import MMIO

/// `struct arm_smmu_smr`: the shadow of one stream match register.
public struct ARMSMMUSMR: Sendable, Hashable {
  public var mask: UInt16 = 0
  public var id: UInt16 = 0
  public var valid = false
}

/// `struct arm_smmu_s2cr`: the shadow of one stream-to-context register, with the number of
/// masters (or RMR entries) using the group.
public struct ARMSMMUS2CR: Sendable, Hashable {
  public var count = 0
  public var type: S2CRType
  public var privcfg: UInt32 = 0
  public var cbndx: UInt8 = 0
}

/// `struct arm_smmu_cfg` + `struct arm_smmu_cb`: what a context bank is programmed with.
public struct ARMSMMUContextBank: Sendable, Hashable {
  public var cbar: CBARType
  public var asid: UInt16 = 0
  public var vmid: UInt16 = 0
  public var aarch64 = true
  public var ttbr: (UInt64, UInt64) = (0, 0)
  public var tcr: (UInt32, UInt32) = (0, 0)
  public var mair: (UInt32, UInt32) = (0, 0)
  public var stage1: Bool { cbar != .s2Trans }

  public static func == (a: Self, b: Self) -> Bool {
    a.cbar == b.cbar && a.asid == b.asid && a.vmid == b.vmid && a.aarch64 == b.aarch64
      && a.ttbr == b.ttbr && a.tcr == b.tcr && a.mair == b.mair
  }
  public func hash(into h: inout Hasher) {
    h.combine(cbar)
    h.combine(ttbr.0)
  }
}

/// `struct arm_smmu_device`: one SMMU as the driver knows it, kept in the platform device's
/// driver data.
public final class ARMSMMUDevice {
  public let dev: Device
  public let base: IOMem
  /// Physical address of the register space (`smmu->ioaddr`).
  public let ioaddr: UInt64
  // The state below is read on every register access and changed by plain stores and element
  // updates, never while another access is in progress (no inout use, no callbacks): no dynamic
  // exclusivity checks.
  /// Holds the resource size until cfg_probe, then the number of global pages (`numpage`).
  @exclusivity(unchecked) public internal(set) var numpage: Int
  @exclusivity(unchecked) public internal(set) var pgshift = 12
  @exclusivity(unchecked) public internal(set) var features: ARMSMMUFeatures = []
  @exclusivity(unchecked) public internal(set) var version: ARMSMMUArchVersion = .v2
  @exclusivity(unchecked) public internal(set) var model: ARMSMMUImplementation = .genericSMMU
  /// Whether `arm_smmu_impl_init()` installed MMU-500's `reset` hook.
  @exclusivity(unchecked) public internal(set) var hasMMU500Reset = false
  @exclusivity(unchecked) public internal(set) var numContextBanks = 0
  @exclusivity(unchecked) public internal(set) var numS2ContextBanks = 0
  /// `context_map`: banks in use.
  @exclusivity(unchecked) public internal(set) var contextMap = ARMSMMUContextMap()
  /// `cbs[i].cfg`: nil for an unassigned bank.
  @exclusivity(unchecked) public internal(set) var cbs: [ARMSMMUContextBank?] = []
  @exclusivity(unchecked) public internal(set) var numMappingGroups = 0
  @exclusivity(unchecked) public internal(set) var streamidMask: UInt16 = 0
  @exclusivity(unchecked) public internal(set) var smrMaskMask: UInt16 = 0
  /// nil without stream matching (stream indexing).
  @exclusivity(unchecked) public internal(set) var smrs: [ARMSMMUSMR]?
  @exclusivity(unchecked) public internal(set) var s2crs: [ARMSMMUS2CR] = []
  @exclusivity(unchecked) public internal(set) var vaSize = 0
  @exclusivity(unchecked) public internal(set) var ipaSize = 0
  @exclusivity(unchecked) public internal(set) var paSize = 0
  @exclusivity(unchecked) public internal(set) var pgsizeBitmap: UInt64 = 0
  @exclusivity(unchecked) public internal(set) var numContextIRQs = 0
  /// The module parameters as this SMMU's probe read them.
  @exclusivity(unchecked) public internal(set) var disableBypass: Bool
  @exclusivity(unchecked) public internal(set) var forceStage: Int
  /// Set by the kernel-list switch: the RMR step must not set CLIENTPD.
  @exclusivity(unchecked) var keepsClientPortEnabled = false
  /// Masters attached through ``ARMSMMUDriver/probeDevice(_:)``: `dev_iommu_priv` (`smendx`).
  // Room for a few masters from the start: grown one insert at a time, the table was
  // reallocated at the second and the fourth.
  @exclusivity(unchecked) var masters = [ObjectIdentifier: [Int]](minimumCapacity: 8)

  init(dev: Device, base: IOMem, ioaddr: UInt64, disableBypass: Bool, forceStage: Int) {
    self.dev = dev
    self.base = base
    self.ioaddr = ioaddr
    self.numpage = base.size
    self.disableBypass = disableBypass
    self.forceStage = forceStage
  }

  /// `s2cr_init_val`: FAULT with disable_bypass, else BYPASS.
  var s2crInitVal: ARMSMMUS2CR { ARMSMMUS2CR(type: disableBypass ? .fault : .bypass) }

  // MARK: Accessors of arm-smmu.h

  /// `arm_smmu_page()`: the offset of register page `n`.
  func page(_ n: Int) -> Int { n << pgshift }
  /// `ARM_SMMU_CB(smmu, n)`: the page of context bank `n`.
  func cbPage(_ n: Int) -> Int { numpage + n }

  /// `arm_smmu_readl()`.
  func readl(_ page: Int, _ offset: Int) throws(Errno) -> UInt32 {
    try base.readl(self.page(page) + offset)
  }
  /// `arm_smmu_writel()`.
  func writel(_ page: Int, _ offset: Int, _ value: UInt32) throws(Errno) {
    try base.writel(value, self.page(page) + offset)
  }
  /// `arm_smmu_gr0_read()`.
  func gr0Read(_ offset: Int) throws(Errno) -> UInt32 { try readl(0, offset) }
  /// `arm_smmu_gr0_write()`.
  func gr0Write(_ offset: Int, _ value: UInt32) throws(Errno) { try writel(0, offset, value) }
  /// `arm_smmu_gr1_write()`.
  func gr1Write(_ offset: Int, _ value: UInt32) throws(Errno) { try writel(1, offset, value) }
  /// `arm_smmu_cb_read()`.
  func cbRead(_ n: Int, _ offset: Int) throws(Errno) -> UInt32 { try readl(cbPage(n), offset) }
  /// `arm_smmu_cb_write()`.
  func cbWrite(_ n: Int, _ offset: Int, _ value: UInt32) throws(Errno) {
    try writel(cbPage(n), offset, value)
  }
  /// `arm_smmu_cb_writeq()`.
  func cbWriteq(_ n: Int, _ offset: Int, _ value: UInt64) throws(Errno) {
    try base.writeq(value, page(cbPage(n)) + offset)
  }
}

/// `DECLARE_BITMAP(context_map, ARM_SMMU_MAX_CBS)`: the context banks in use, as bits (a set
/// of integers allocated its storage at the first attach of every kernel). Four words cover
/// every bank ID1.NUMCB can name.
public struct ARMSMMUContextMap: Sendable, Hashable {
  private var w0: UInt64 = 0
  private var w1: UInt64 = 0
  private var w2: UInt64 = 0
  private var w3: UInt64 = 0

  public init() {}

  public var isEmpty: Bool { w0 | w1 | w2 | w3 == 0 }

  /// `test_bit()`.
  public func contains(_ bank: Int) -> Bool {
    precondition(bank >= 0 && bank < 256, "context bank \(bank) outside the map")
    let bit = UInt64(1) << UInt64(bank & 63)
    switch bank >> 6 {
    case 0: return w0 & bit != 0
    case 1: return w1 & bit != 0
    case 2: return w2 & bit != 0
    default: return w3 & bit != 0
    }
  }

  /// `set_bit()`.
  public mutating func insert(_ bank: Int) {
    precondition(bank >= 0 && bank < 256, "context bank \(bank) outside the map")
    let bit = UInt64(1) << UInt64(bank & 63)
    switch bank >> 6 {
    case 0: w0 |= bit
    case 1: w1 |= bit
    case 2: w2 |= bit
    default: w3 |= bit
    }
  }

  /// `bitmap_zero()`.
  public mutating func removeAll() { self = Self() }
}
