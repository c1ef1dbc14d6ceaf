import MMIO
import Memory

/// An SMMUv1/v2 (Arm CoreLink MMU-500 by default): the register file the arm-smmu driver
/// programs, the handshakes it waits on, and a router for DMA that follows what was programmed.
///
/// Modelled behaviour:
/// - sCR0 resets with CLIENTPD set (every transaction bypasses until software clears it);
/// - sGFSR, sGFSYNR0-2 and CB_FSR are write-1-to-clear; ID registers and sTLBGSTATUS are read-only;
/// - writing sTLBGSYNC (or a bank's TLBSYNC) starts a sync that stays active for
///   ``SMMUv2Configuration/tlbSyncBusyReads`` reads of the status register (the busy phase);
/// - SMR ID and MASK keep only the implemented bits (what `arm_smmu_test_smr_masks()` probes);
/// - MMU-500: context bank ACTLR ignores writes while sACR.CACHE_LOCK is set.
///
/// Fault injection: ``tlbSyncNeverCompletes`` and the register file's `readsAllOnes`.
public final class ARMSMMUv2: IOMMUHardwareModel {
  public let name: String
  public let configuration: SMMUv2Configuration
  public let registers: SimulatedRegisterFile
  /// Memory the context banks' translation tables live in (nil: translation faults).
  public let memory: PhysicalMemory?
  /// `memory` for the table walk of every transaction: binding the optional reference retained
  /// and released it per walk. Safe: `memory` holds it as long as the model.
  let walkMemory: Unmanaged<PhysicalMemory>?
  // The state below is read or changed by the register hooks and the router with plain stores
  // and appends, never while another access is in progress: no dynamic exclusivity checks.
  /// Fault injection: a started TLB sync never completes (GSACTIVE / SACTIVE stay set).
  @exclusivity(unchecked) public var tlbSyncNeverCompletes = false
  /// Every TLB invalidation the silicon received, in order (`TLBIALLH`, `CB0 TLBIASID 0x1`).
  public var tlbInvalidations: [String] { tlbInvalidationLog.map { $0.description } }
  /// The invalidations as received, formatted only when read: the drivers issue one per map
  /// and per sync, and nothing reads them in a handover.
  @exclusivity(unchecked) private var tlbInvalidationLog: [TLBInvalidation] = []
  private struct TLBInvalidation: CustomStringConvertible {
    /// The register's name (a literal).
    let label: String
    /// The context bank, or nil for a global invalidation.
    let contextBank: Int?
    /// The value written, when the line shows it.
    let value: UInt64?

    var description: String {
      let operation = value.map { "\(label) \(hex($0))" } ?? label
      return contextBank.map { "CB\($0) \(operation)" } ?? operation
    }
  }
  /// Every fault the router recorded, in order, as a sentence.
  @exclusivity(unchecked) public private(set) var faultLog: [String] = []
  /// How many faults the router recorded (``faultLog`` holds their sentences only while
  /// ``describesBlockedRoutes``).
  @exclusivity(unchecked) public private(set) var faultCount = 0
  /// Whether a blocked route carries its reason (`DMARoute.blocked(reason:)`, empty when off) and the fault its sentence in ``faultLog``.
  /// The handover machine only counts blocked transactions and turns it off: building the
  /// sentence cost more than routing the transaction.
  @exclusivity(unchecked) public var describesBlockedRoutes = true

  @exclusivity(unchecked) var globalSyncReadsLeft = 0
  @exclusivity(unchecked) var contextSyncReadsLeft: [Int]

  public init(
    name: String = "smmu-500", configuration: SMMUv2Configuration = .mmu500,
    memory: PhysicalMemory? = nil
  ) {
    self.name = name
    self.configuration = configuration
    self.memory = memory
    walkMemory = memory.map { .passUnretained($0) }
    registers = SimulatedRegisterFile(
      size: configuration.registerSpaceSize, registers: configuration.registerDefinitions())
    contextSyncReadsLeft = Array(repeating: 0, count: configuration.numContextBanks)
    installHooks()
  }

  public func powerOnReset() {
    registers.reset()
    globalSyncReadsLeft = 0
    contextSyncReadsLeft = Array(repeating: 0, count: configuration.numContextBanks)
    tlbInvalidationLog.removeAll(keepingCapacity: true)
    faultLog = []
    faultCount = 0
  }

  // MARK: Backdoor helpers

  func peek32(_ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: registers.peek(.dword, at: offset)) }
  func poke32(_ value: UInt32, _ offset: Int) { registers.poke(UInt64(value), .dword, at: offset) }

  /// The sCR0 the silicon currently acts on.
  public var sCR0: UInt32 { peek32(SMMUv2Offsets.sCR0) }
  /// Whether a global TLB sync is still running.
  public var globalSyncActive: Bool {
    peek32(SMMUv2Offsets.sTLBGSTATUS) & SMMUv2Bits.sTLBGSTATUSGSACTIVE != 0
  }

  // MARK: Side effects

  private func installHooks() {
    typealias O = SMMUv2Offsets
    let c = configuration
    // The hooks the drivers' hot writes run (sTLBGSTATUS, the SMRs, ACTLR) reach the model through an
    // unmanaged reference: an unowned capture takes a retain and release on every call. Safe: the
    // register file is this model's own `let`, written only while the model lives (the machine's
    // rig and the tests hold the model; a write after it was gone trapped on the unowned capture).
    let model = Unmanaged.passUnretained(self)
    registers.onWrite(at: O.sTLBGSYNC) { [unowned self] _, _ in
      poke32(SMMUv2Bits.sTLBGSTATUSGSACTIVE, O.sTLBGSTATUS)
      globalSyncReadsLeft = c.tlbSyncBusyReads
    }
    registers.onRead(at: O.sTLBGSTATUS) { _, _ in
      model._withUnsafeGuaranteedRef { smmu in
        if smmu.tlbSyncNeverCompletes { return }
        if smmu.globalSyncReadsLeft == 0 {
          smmu.poke32(0, O.sTLBGSTATUS)
        } else {
          smmu.globalSyncReadsLeft -= 1
        }
      }
    }
    for (offset, label) in [(O.tlbiVMID, "TLBIVMID"), (O.tlbiAllNSNH, "TLBIALLNSNH"), (O.tlbiAllH, "TLBIALLH")] {
      let showsValue = label == "TLBIVMID"
      registers.onWrite(at: offset) { [unowned self] _, event in
        tlbInvalidationLog.append(
          TLBInvalidation(label: label, contextBank: nil, value: showsValue ? event.value : nil))
      }
    }
    // SMR: only the implemented ID and MASK bits stick; with EXIDENABLE the valid bit lives in
    // S2CR.EXIDVALID and bit 31 is a MASK bit.
    for n in 0..<c.numSMRGroups where c.streamMatching {
      registers.legalize(at: O.smr(n)) { _, proposed in
        let exid = model._withUnsafeGuaranteedRef { $0.sCR0 } & SMMUv2Bits.sCR0EXIDENABLE != 0
        let keep =
          UInt64(c.smrMaskBits) << 16 | UInt64(c.smrIDBits) | (exid ? 0 : UInt64(SMMUv2Bits.smrValid))
        return proposed & keep
      }
    }
    for n in 0..<c.numContextBanks {
      let cb = c.contextBankOffset(n)
      registers.onWrite(at: cb + O.cbTLBSYNC) { [unowned self] _, _ in
        poke32(1, cb + O.cbTLBSTATUS)
        contextSyncReadsLeft[n] = c.tlbSyncBusyReads
      }
      registers.onRead(at: cb + O.cbTLBSTATUS) { [unowned self] _, _ in
        if tlbSyncNeverCompletes { return }
        if contextSyncReadsLeft[n] == 0 {
          poke32(0, cb + O.cbTLBSTATUS)
        } else {
          contextSyncReadsLeft[n] -= 1
        }
      }
      registers.legalize(at: cb + O.cbACTLR) { old, proposed in
        model._withUnsafeGuaranteedRef { $0.peek32(O.sACR) } & SMMUv2Bits.acrCacheLock != 0 ? old : proposed
      }
      for (offset, label) in [
        (O.cbTLBIASID, "TLBIASID"), (O.cbTLBIVA, "TLBIVA"), (O.cbTLBIVAL, "TLBIVAL"), (O.cbTLBIIPAS2, "TLBIIPAS2"),
        (O.cbTLBIIPAS2L, "TLBIIPAS2L"),
      ] {
        registers.onWrite(at: cb + offset) { [unowned self] _, event in
          tlbInvalidationLog.append(TLBInvalidation(label: label, contextBank: n, value: event.value))
        }
      }
    }
  }

  /// Records a fault sentence for the report.
  func noteFault(_ sentence: @autoclosure () -> String) -> String {
    faultCount += 1
    guard describesBlockedRoutes else { return "" }
    let sentence = sentence()
    faultLog.append(sentence)
    return sentence
  }
}
