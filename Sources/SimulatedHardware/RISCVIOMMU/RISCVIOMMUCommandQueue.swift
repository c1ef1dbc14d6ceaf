import MMIO
import Memory

/// One command the hardware read from the command queue, as QEMU's `riscv_iommu_cmd` trace event
/// prints it: `command 0x3002 0x0`.
public struct RISCVIOMMUCommandRecord: Sendable, Hashable, CustomStringConvertible {
  public var dword0: UInt64
  public var dword1: UInt64
  /// Whether the hardware refused it (CQCSR.CMD_ILL).
  public var illegal: Bool
  public var opcode: UInt64 { dword0 & 0x7f }
  public var function: UInt64 { (dword0 >> 7) & 0x7 }

  public var name: String {
    switch (opcode, function) {
    case (1, 0): "IOTINVAL.VMA"
    case (1, 1): "IOTINVAL.GVMA"
    case (2, 0): "IOFENCE.C"
    case (3, 0): "IODIR.INVAL_DDT"
    case (3, 1): "IODIR.INVAL_PDT"
    case (4, 0): "ATS.INVAL"
    case (4, 1): "ATS.PRGR"
    default: "opcode \(opcode) func \(function)"
    }
  }

  public var description: String { "command \(hex(dword0)) \(hex(dword1))" }
}

extension RISCVIOMMUHardware {
  private enum Outcome { case done, illegal, memoryFault }

  /// Consumes commands from CQH up to CQT (riscv_iommu_process_cq_tail in QEMU). Processing
  /// stops at an illegal command (CMD_ILL) or a memory fault (CQMF) and stays stopped until
  /// software clears the error bit.
  func processCommandQueue() {
    let s = RISCVIOMMUSpec.self
    guard let queue = activeQueues[.command] else { return }
    let stopped = s.csrMemoryFault | s.csrTimeoutOrOverflow | s.cqcsrCommandIllegal
    guard registers.peek(.dword, at: s.cqcsr) & stopped == 0 else { return }
    var head = UInt32(truncatingIfNeeded: registers.peek(.dword, at: s.cqh))
    let tail = UInt32(truncatingIfNeeded: registers.peek(.dword, at: s.cqt))
    while head != tail {
      let address = queue.base + UInt64(head) * 16
      guard let d0 = try? memory.read64(address), let d1 = try? memory.read64(address + 8) else {
        setCSRBits(.command, s.csrMemoryFault)
        raiseInterrupt(.command)
        return
      }
      let outcome = execute(dword0: d0, dword1: d1)
      processedCommands.append(
        RISCVIOMMUCommandRecord(dword0: d0, dword1: d1, illegal: outcome == .illegal))
      switch outcome {
      case .done:
        head = (head &+ 1) & queue.mask
        registers.poke(UInt64(head), .dword, at: s.cqh)
      case .illegal:
        setCSRBits(.command, s.cqcsrCommandIllegal)
        raiseInterrupt(.command)
        return
      case .memoryFault:
        setCSRBits(.command, s.csrMemoryFault)
        raiseInterrupt(.command)
        return
      }
    }
  }

  private func execute(dword0 d0: UInt64, dword1 d1: UInt64) -> Outcome {
    let opcode = d0 & 0x7f
    let function = (d0 >> 7) & 0x7
    switch (opcode, function) {
    case (RISCVIOMMUSpec.opcodeIOTINVAL, 0), (RISCVIOMMUSpec.opcodeIOTINVAL, 1):
      let addressValid = d0 & (1 << 10) != 0
      let pscidValid = d0 & (1 << 32) != 0
      // IOTINVAL.GVMA with PSCV set is illegal (spec §3.1.1).
      if function == 1 && pscidValid { return .illegal }
      let pscid = UInt32((d0 >> 12) & 0xf_ffff)
      let page = d1 >> 10
      iotlb.removeAll { key, entry in
        let pageMatches = !addressValid || key.page == page
        let pscidMatches = !pscidValid || entry.pscid == pscid
        return pageMatches && pscidMatches
      }
      return .done
    case (RISCVIOMMUSpec.opcodeIOFENCE, 0):
      if d0 & (1 << 10) != 0 {
        // AV: the completion write of DATA to ADDR.
        let data = UInt32(truncatingIfNeeded: d0 >> 32)
        guard (try? memory.write32(data, at: (d1 << 2) & ((1 << 56) - 1))) != nil else {
          return .memoryFault
        }
      }
      if d0 & (1 << 11) != 0 {
        // WSI: completion is signalled through CQCSR.FENCE_W_IP and IPSR.CIP.
        setCSRBits(.command, RISCVIOMMUSpec.cqcsrFenceWaitInterruptPending)
        raiseInterrupt(.command)
      }
      return .done
    case (RISCVIOMMUSpec.opcodeIODIR, 0), (RISCVIOMMUSpec.opcodeIODIR, 1):
      let deviceValid = d0 & (1 << 33) != 0
      // IODIR.INVAL_PDT needs a device ID.
      if function == 1 && !deviceValid { return .illegal }
      if deviceValid {
        let did = UInt32(d0 >> 40)
        deviceContextCache[did] = nil
        iotlb.removeAll { $0.key.deviceID == did }
      } else {
        deviceContextCache.removeAll(keepingCapacity: true)
      }
      return .done
    case (RISCVIOMMUSpec.opcodeATS, 0), (RISCVIOMMUSpec.opcodeATS, 1):
      return configuration.ats ? .done : .illegal
    default:
      return .illegal
    }
  }
}
