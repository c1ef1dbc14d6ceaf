import MMIO
import Memory

/// QEMU 10's `intel-iommu` (hw/i386/intel_iommu.c): the VT-d register set, the GCMD → GSTS
/// handshake, the invalidation queue consumed from ``PhysicalMemory``, and DMA remapping through
/// root and context tables in that memory.
///
/// Drivers should reach the registers through ``mmio``, which also writes QEMU's `vtd_reg_*`
/// trace events into ``events``; the hardware's own events (`vtd_reg_write_gcmd`,
/// `vtd_reg_dmar_root`, `vtd_inv_desc ...`) follow in the same log, so a model run can be
/// compared line for line with a `-trace 'vtd_reg*' -trace 'vtd_inv_desc*'` capture.
///
/// Fault injection: ``stuckStatus`` holds GSTS bits that never follow their command (the
/// kernel's IOMMU_WAIT_OP then spins until it panics), ``stuckProtectedRegionStatus`` keeps
/// PMEN.PRS set, ``stalledInvalidationQueue`` stops descriptor processing.
public final class IntelVTd: IOMMUHardwareModel {
  public let name: String
  public let configuration: VTdConfiguration
  public let registers: SimulatedRegisterFile
  /// Where root, context and page tables, the invalidation queue and wait status words live.
  public let memory: PhysicalMemory
  // The state below is read or changed by every register hook, descriptor and translation with
  // plain stores and appends, never while another access is in progress: no dynamic exclusivity
  // checks.
  /// QEMU-format trace events, oldest first.
  @exclusivity(unchecked) public private(set) var events: [String] = []
  @exclusivity(unchecked) public var recordsEvents = true
  /// Whether a blocked route carries its reason (`DMARoute.blocked(reason:)`, empty when off).
  /// The handover machine only counts blocked transactions and turns it off.
  @exclusivity(unchecked) public var describesBlockedRoutes = true
  /// GSTS bits that keep their value whatever GCMD asks (a status that never arrives).
  @exclusivity(unchecked) public var stuckStatus: UInt32 = 0
  /// PMEN.PRS stays set after EPM is cleared (with ``VTdConfiguration/protectedMemoryRegions``).
  @exclusivity(unchecked) public var stuckProtectedRegionStatus = false
  /// The invalidation queue latches IQT but never fetches descriptors (a wedged unit): wait
  /// descriptors never complete.
  @exclusivity(unchecked) public var stalledInvalidationQueue = false
  /// Every DMA fault the unit saw, recorded or not (the fault recording register holds one).
  @exclusivity(unchecked) public internal(set) var faultLog: [VTdFault] = []

  // Latched state (QEMU's IntelIOMMUState fields).
  @exclusivity(unchecked) var rootPointer: UInt64 = 0
  @exclusivity(unchecked) var rootScalable = false
  @exclusivity(unchecked) var queueBase: UInt64 = 0
  @exclusivity(unchecked) var queueEntries = 0
  @exclusivity(unchecked) var queueWide = false
  @exclusivity(unchecked) var queueHead = 0
  @exclusivity(unchecked) var queueTail = 0
  @exclusivity(unchecked) var queueEnabled = false
  @exclusivity(unchecked) var lastDescriptorType: UInt64 = 0
  @exclusivity(unchecked) var interruptTable: UInt64 = 0
  @exclusivity(unchecked) var interruptTableEntries = 0

  public init(
    name: String = "dmar0", configuration: VTdConfiguration = .qemuDefault, memory: PhysicalMemory
  ) {
    self.name = name
    self.configuration = configuration
    self.memory = memory
    registers = SimulatedRegisterFile(size: 0x1000, registers: Self.definitions(configuration))
    installHooks()
  }

  /// The register definitions of vtd_init(): reset values, and QEMU's write masks turned into
  /// read-only masks.
  static func definitions(_ c: VTdConfiguration) -> [SimulatedRegisterFile.Definition] {
    func ro(_ wmask: UInt64, _ width: AccessWidth) -> UInt64 { ~wmask & width.valueMask }
    return [
      .init("VER", offset: VTd.VER, width: .dword, reset: UInt64(c.version), readOnly: ~0),
      .init("CAP", offset: VTd.CAP, width: .qword, reset: c.cap, readOnly: ~0),
      .init("ECAP", offset: VTd.ECAP, width: .qword, reset: c.ecap, readOnly: ~0),
      .init(
        "GCMD", offset: VTd.GCMD, width: .dword, readOnly: ro(0xFF80_0000, .dword), writeOnly: true),
      .init("GSTS", offset: VTd.GSTS, width: .dword, readOnly: ~0),
      .init("RTADDR", offset: VTd.RTADDR, width: .qword, readOnly: ro(0xFFFF_FFFF_FFFF_FC00, .qword)),
      .init("CCMD", offset: VTd.CCMD, width: .qword, readOnly: ro(0xE000_0003_FFFF_FFFF, .qword)),
      .init("FSTS", offset: VTd.FSTS, width: .dword, readOnly: ~0, writeOneToClear: 0x11),
      .init("FECTL", offset: VTd.FECTL, width: .dword, reset: 0x8000_0000, readOnly: ro(0x8000_0000, .dword)),
      .init("FEDATA", offset: VTd.FEDATA, width: .dword, readOnly: ro(0xFFFF, .dword)),
      .init("FEADDR", offset: VTd.FEADDR, width: .dword, readOnly: ro(0xFFFF_FFFC, .dword)),
      .init("FEUADDR", offset: VTd.FEUADDR, width: .dword, readOnly: ~0),
      .init(
        "PMEN", offset: VTd.PMEN, width: .dword,
        readOnly: c.protectedMemoryRegions ? ro(0x8000_0000, .dword) : ~0),
      .init("IQH", offset: VTd.IQH, width: .qword, readOnly: ~0),
      .init("IQT", offset: VTd.IQT, width: .qword, readOnly: ro(0x7FFF0, .qword)),
      .init("IQA", offset: VTd.IQA, width: .qword, readOnly: ro(0xFFFF_FFFF_FFFF_F807, .qword)),
      .init("ICS", offset: VTd.ICS, width: .dword, readOnly: ~0, writeOneToClear: 0x1),
      .init("IECTL", offset: VTd.IECTL, width: .dword, reset: 0x8000_0000, readOnly: ro(0x8000_0000, .dword)),
      .init("IEDATA", offset: VTd.IEDATA, width: .dword),
      .init("IEADDR", offset: VTd.IEADDR, width: .dword, readOnly: ro(0xFFFF_FFFC, .dword)),
      .init("IEUADDR", offset: VTd.IEUADDR, width: .dword, readOnly: ~0),
      .init("IRTA", offset: VTd.IRTA, width: .qword, readOnly: ro(0xFFFF_FFFF_FFFF_F80F, .qword)),
      .init(
        "IVA", offset: VTd.IVA, width: .qword, readOnly: ro(0xFFFF_FFFF_FFFF_F07F, .qword),
        writeOnly: true),
      .init("IOTLB", offset: VTd.IOTLB, width: .qword, readOnly: ro(0xB003_FFFF_0000_0000, .qword)),
      .init("FRCD0_LO", offset: VTd.faultRecordOffset, width: .qword, readOnly: ~0),
      .init(
        "FRCD0_HI", offset: VTd.faultRecordOffset + 8, width: .qword, readOnly: ~0,
        writeOneToClear: VTd.frcdF),
    ]
  }

  private func installHooks() {
    registers.onWrite(at: VTd.GCMD) { [unowned self] _, e in
      handleGCMD(UInt32(truncatingIfNeeded: e.newValue))
    }
    registers.onWrite(at: VTd.IQT) { [unowned self] _, _ in handleIQTWrite() }
    registers.onWrite(at: VTd.CCMD) { [unowned self] _, e in handleCCMD(e.newValue) }
    registers.onWrite(at: VTd.IOTLB) { [unowned self] _, e in handleIOTLB(e.newValue) }
    registers.onWrite(at: VTd.PMEN) { [unowned self] _, e in handlePMEN(UInt32(truncatingIfNeeded: e.newValue)) }
    registers.onWrite(at: VTd.faultRecordOffset + 8) { regs, e in
      // vtd_update_fsts_ppf(): PPF reads as "some fault record holds F".
      guard e.newValue & VTd.frcdF == 0 else { return }
      let fsts = regs.peek(.dword, at: VTd.FSTS)
      regs.poke(fsts & ~UInt64(VTd.fstsPPF), .dword, at: VTd.FSTS)
    }
    registers.onWrite(at: VTd.FECTL) { [unowned self] _, e in
      event("vtd_reg_write_fectl value \(hex(e.newValue))")
    }
  }

  /// A cold reset: every register to its vtd_init() value, latched state dropped.
  public func powerOnReset() {
    registers.reset()
    rootPointer = 0
    rootScalable = false
    queueBase = 0
    queueEntries = 0
    queueWide = false
    queueHead = 0
    queueTail = 0
    queueEnabled = false
    lastDescriptorType = 0
    interruptTable = 0
    interruptTableEntries = 0
    faultLog = []
    events = []
  }

  /// Appends a QEMU trace event line.
  func event(_ line: @autoclosure () -> String) {
    if recordsEvents { events.append(line()) }
  }

  public func clearEvents() { events = [] }

  /// The register block as software sees it, with QEMU's `vtd_reg_read`/`vtd_reg_write` events.
  public var mmio: VTdTracedRegisters { VTdTracedRegisters(self) }

  // Backdoor helpers for the hardware's own view.
  var gsts: UInt32 { UInt32(truncatingIfNeeded: registers.peek(.dword, at: VTd.GSTS)) }
  func setStatus(_ bits: UInt32, _ on: Bool) {
    let wanted = on ? gsts | bits : gsts & ~bits
    // A stuck bit keeps its old value.
    let value = (wanted & ~stuckStatus) | (gsts & stuckStatus)
    registers.poke(UInt64(value), .dword, at: VTd.GSTS)
  }
  var cap: UInt64 { registers.peek(.qword, at: VTd.CAP) }
  var ecap: UInt64 { registers.peek(.qword, at: VTd.ECAP) }
  var interruptRemappingSupported: Bool { ecap & (1 << 3) != 0 }
  var addressMask: UInt64 {
    let mgaw = Int((cap >> 16) & 0x3F) + 1
    return (UInt64(1) << UInt64(mgaw)) - 1
  }

  /// Whether translation is on (GSTS.TES).
  public var translationEnabled: Bool { gsts & VTd.TE != 0 }
  /// The root table the hardware uses (latched by SRTP), and whether it is scalable-mode.
  public var rootTable: (address: UInt64, scalable: Bool) { (rootPointer, rootScalable) }
  /// The interrupt remapping table latched by SIRTP, and its number of entries.
  public var interruptRemapTable: (address: UInt64, entries: Int) {
    (interruptTable, interruptTableEntries)
  }
}

/// The software view of an ``IntelVTd`` register block: accesses are forwarded and logged as
/// QEMU's `vtd_reg_read addr 0x1c size 0x4` / `vtd_reg_write addr 0x18 size 0x4 value 0x...`.
public struct VTdTracedRegisters: WritableRegisterIO {
  let unit: IntelVTd
  init(_ unit: IntelVTd) { self.unit = unit }
  public var size: Int { unit.registers.size }
  public var supportedWidths: AccessWidths { unit.registers.supportedWidths }

  public func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    unit.event("vtd_reg_read addr \(hex(offset)) size \(hex(width.rawValue))")
    return try unit.registers.uncheckedRead(width, at: offset)
  }

  public func uncheckedWrite(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError) {
    unit.event("vtd_reg_write addr \(hex(offset)) size \(hex(width.rawValue)) value \(hex(value))")
    try unit.registers.uncheckedWrite(value, width, at: offset)
  }
}
