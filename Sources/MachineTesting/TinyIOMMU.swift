import MMIO
import Machine
import Memory
import SimulatedHardware

/// The silicon of a tiny IOMMU, small enough to read in one sitting, for testing the machine
/// and adapters.
///
/// Registers: CTRL (0x00: EN b0 translates; with EN=0, ABORT b1 aborts everything, else all
/// traffic bypasses), STATUS (0x04, read-only: ENS b0 follows EN), ROOT (0x08, 64-bit: the root
/// table), FAULTS (0x10, read-only: faults recorded so far).
///
/// Root table: 16 bytes per stream ID (64 of them). Word 0: V b0, MODE [2:1] (0 abort, 1 bypass,
/// 2 translate), TABLE [51:12]; word 1: the IOVA window's base. A translate table is one page
/// of 512 PTEs (V b0, PA [51:12]) covering a 2 MiB window.
public final class TinyIOMMU: IOMMUHardwareModel {
  public static let ctrl = 0x00
  public static let status = 0x04
  public static let root = 0x08
  public static let faults = 0x10
  public static let enable: UInt64 = 1 << 0
  public static let abort: UInt64 = 1 << 1
  public static let streams = 64
  public static let entrySize: UInt64 = 16
  public static let windowSize: UInt64 = 0x20_0000
  static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

  public let name = "tiny-iommu"
  public let registers: SimulatedRegisterFile
  let memory: PhysicalMemory

  public init(memory: PhysicalMemory) {
    self.memory = memory
    registers = SimulatedRegisterFile(
      size: 0x1000,
      registers: [
        .init("CTRL", offset: Self.ctrl, width: .dword),
        .init("STATUS", offset: Self.status, width: .dword, readOnly: 0xFFFF_FFFF),
        .init("ROOT", offset: Self.root, width: .qword),
        .init("FAULTS", offset: Self.faults, width: .dword, readOnly: 0xFFFF_FFFF),
      ])
    registers.onWrite(at: Self.ctrl) { regs, event in
      regs.poke(event.newValue & Self.enable, .dword, at: Self.status)
    }
  }

  public func powerOnReset() { registers.reset() }

  public var faultCount: Int { Int(registers.peek(.dword, at: Self.faults)) }

  private func fault(_ reason: String) -> DMARoute {
    registers.poke(registers.peek(.dword, at: Self.faults) &+ 1, .dword, at: Self.faults)
    return .blocked(reason: reason)
  }

  public func route(streamID: UInt32, address: UInt64, isWrite: Bool) -> DMARoute {
    let ctrl = registers.peek(.dword, at: Self.ctrl)
    guard ctrl & Self.enable != 0 else {
      return ctrl & Self.abort != 0 ? .blocked(reason: "CTRL.ABORT") : .bypassed(physical: address)
    }
    guard streamID < Self.streams else { return fault("stream ID out of range") }
    let entry = registers.peek(.qword, at: Self.root) + UInt64(streamID) * Self.entrySize
    guard let word0 = try? memory.read64(entry), let base = try? memory.read64(entry + 8) else {
      return fault("root table unbacked")
    }
    guard word0 & 1 != 0 else { return fault("invalid context") }
    switch (word0 >> 1) & 3 {
    case 0: return .blocked(reason: "abort context")
    case 1: return .bypassed(physical: address)
    case 2: break
    default: return fault("reserved mode")
    }
    guard address >= base, address - base < Self.windowSize else { return fault("outside window") }
    let pteAddress = (word0 & Self.addressMask) + ((address - base) >> 12) * 8
    guard let pte = try? memory.read64(pteAddress), pte & 1 != 0 else {
      return fault("translation fault")
    }
    return .translated(physical: (pte & Self.addressMask) | (address & 0xFFF))
  }
}
