import MMIO
import Memory

/// What an IOMMU does with one DMA transaction at this instant.
public enum DMARoute: Sendable, Hashable, CustomStringConvertible {
  /// Translated through the tables in memory to this physical address.
  case translated(physical: UInt64)
  /// Passed through untranslated: the device's address is used as a physical address
  /// (SMMUv2 CLIENTPD, SMMUv3 SMMUEN=0 with GBPA bypass, RISC-V DDTP BARE, VT-d TE=0).
  case bypassed(physical: UInt64)
  /// Terminated: aborted or faulted, with the reason the IOMMU records.
  case blocked(reason: String)

  public var description: String {
    switch self {
    case .translated(let pa): "translated to \(hex(pa, digits: 9))"
    case .bypassed(let pa): "bypassed to \(hex(pa, digits: 9))"
    case .blocked(let r): "blocked (\(r))"
    }
  }
}

/// The silicon side of an IOMMU, as the machine model sees it: a register block the driver
/// programs, and a router for DMA that reads whatever tables that programming points at.
///
/// Hardware models never depend on drivers: they implement the specification (and QEMU 10's
/// behaviour where the specification leaves room).
public protocol IOMMUHardwareModel: AnyObject {
  /// A short name for reports (`riscv-iommu`, `smmuv3`, `smmu-500`, `dmar0`).
  var name: String { get }
  /// The register block drivers see through MMIO.
  var registers: SimulatedRegisterFile { get }
  /// Routes one transaction from `streamID` (requester / stream ID) at device address `address`.
  /// A fault the hardware records as a side effect (fault queue, event queue, fault registers)
  /// is recorded here too.
  func route(streamID: UInt32, address: UInt64, isWrite: Bool) -> DMARoute
  /// A power-on reset (a cold boot; kexec and kdump do not reset the IOMMU).
  func powerOnReset()
}
