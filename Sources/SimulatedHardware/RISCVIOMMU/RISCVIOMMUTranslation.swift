import MMIO
import Memory

/// A device context as the hardware loaded it from the device directory (spec §2.1).
public struct RISCVIOMMUDeviceContext: Sendable, Hashable {
  public var tc: UInt64
  public var iohgatp: UInt64
  public var ta: UInt64
  public var fsc: UInt64
  public var isValid: Bool { tc & 1 != 0 }
  public var pscid: UInt32 { UInt32((ta >> 12) & 0xf_ffff) }
}

struct IOTLBKey: Hashable {
  var deviceID: UInt32
  var page: UInt64
}

struct IOTLBEntry {
  var pscid: UInt32
  var physicalPage: UInt64
  var writable: Bool
}

extension RISCVIOMMUHardware {
  struct Fault: Error {
    var cause: UInt16
    var reason: String
  }

  /// Routes one transaction: DDTP OFF blocks (cause 256), BARE passes through, 1/2/3LVL walks
  /// the device directory in memory (cached until IODIR.INVAL_DDT). A device context with
  /// TC.V=0 faults (cause 258); FSC BARE is the identity; FSC Sv39/Sv48 walks the first-stage
  /// page table (cached until IOTINVAL.VMA). Faults are written to the fault queue.
  public func route(streamID: UInt32, address: UInt64, isWrite: Bool) -> DMARoute {
    switch lookup(streamID: streamID, address: address, isWrite: isWrite) {
    case .success(let route):
      return route
    case .failure(let f):
      reportFault(cause: f.cause, deviceID: streamID, isWrite: isWrite, iotval: address)
      return .blocked(reason: describesBlockedRoutes ? "cause \(f.cause): \(f.reason)" : "")
    }
  }

  /// The translation of one transaction, or the fault it meets, without reporting the fault.
  func lookup(streamID: UInt32, address: UInt64, isWrite: Bool) -> Result<DMARoute, Fault> {
    let ddtp = registers.peek(.qword, at: RISCVIOMMUSpec.ddtp)
    guard let mode = RISCVIOMMUDDTMode(rawValue: ddtp & RISCVIOMMUSpec.ddtpModeMask) else {
      return .failure(.init(cause: RISCVIOMMUSpec.causeAllInboundDisallowed, reason: "reserved DDTP mode"))
    }
    switch mode {
    case .off:
      return .failure(
        .init(
          cause: RISCVIOMMUSpec.causeAllInboundDisallowed, reason: "all inbound transactions disallowed (DDTP OFF)"))
    case .bare:
      return .success(.bypassed(physical: address))
    case .oneLevel, .twoLevel, .threeLevel:
      do throws(Fault) {
        let context = try deviceContext(streamID, mode: mode, root: (ddtp & RISCVIOMMUSpec.ppnMask) << 2)
        return .success(try translate(context, streamID, address, isWrite))
      } catch {
        return .failure(error)
      }
    }
  }

  /// The device context of `did`, from the cache or by walking the directory.
  private func deviceContext(_ did: UInt32, mode: RISCVIOMMUDDTMode, root: UInt64) throws(Fault)
    -> RISCVIOMMUDeviceContext
  {
    if let cached = deviceContextCache[did] { return cached }
    let extended = configuration.msiFlat
    // Device-ID split per level: 6/9/9 bits (extended format) or 7/9/8 (base format).
    let ddiBits: SIMD3<UInt32> = extended ? [6, 15, 24] : [7, 16, 24]  // inline, no array
    let depth = Int(mode.rawValue - RISCVIOMMUDDTMode.oneLevel.rawValue)
    guard UInt64(did) < (1 << UInt64(ddiBits[depth])) else {
      throw Fault(cause: RISCVIOMMUSpec.causeTransactionTypeDisallowed, reason: "device ID too wide for \(mode)")
    }
    var table = root
    for level in stride(from: depth, to: 0, by: -1) {
      let index = UInt64((did >> ddiBits[level - 1]) & 0x1ff)
      guard let entry = try? memory.read64(table + index * 8) else {
        throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryLoadAccessFault, reason: "DDT entry load access fault")
      }
      guard entry & 1 != 0 else {
        throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryNotValid, reason: "non-leaf DDT entry not valid")
      }
      guard entry & ~(RISCVIOMMUSpec.ppnMask | 1) == 0 else {
        throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryMisconfigured, reason: "non-leaf DDT entry reserved bits")
      }
      table = (entry & RISCVIOMMUSpec.ppnMask) << 2
    }
    let leaf = UInt64(did & (extended ? 0x3f : 0x7f)) * (extended ? 64 : 32)
    var words = SIMD4<UInt64>()  // inline: no array per walk
    for i in 0..<4 {
      guard let w = try? memory.read64(table + leaf + UInt64(8 * i)) else {
        throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryLoadAccessFault, reason: "device context load access fault")
      }
      words[i] = w
    }
    let context = RISCVIOMMUDeviceContext(tc: words[0], iohgatp: words[1], ta: words[2], fsc: words[3])
    guard context.isValid else {
      // Invalid contexts are never cached (spec §2.1.4): the next access reads memory again.
      throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryNotValid, reason: "device context not valid (TC.V=0)")
    }
    deviceContextCache[did] = context
    return context
  }

  private func translate(
    _ dc: RISCVIOMMUDeviceContext, _ did: UInt32, _ address: UInt64, _ isWrite: Bool
  ) throws(Fault) -> DMARoute {
    if dc.iohgatp >> 60 != 0 {
      throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryMisconfigured, reason: "G-stage translation is not modelled")
    }
    if dc.tc & (1 << 5) != 0 {
      throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryMisconfigured, reason: "process directory (PDTV) is not modelled")
    }
    switch dc.fsc >> 60 {
    case 0:
      return .translated(physical: address)
    case 8:
      return .translated(physical: try walk(dc, did, address, isWrite, levels: 3))
    case 9:
      return .translated(physical: try walk(dc, did, address, isWrite, levels: 4))
    default:
      throw Fault(cause: RISCVIOMMUSpec.causeDDTEntryMisconfigured, reason: "unsupported FSC mode \(dc.fsc >> 60)")
    }
  }

  /// The first-stage Sv39/Sv48 walk (privileged spec §4.3.2, without A/D updates: a clear A, or
  /// a clear D on a write, faults, as an IOMMU without AMO_HWAD does).
  private func walk(
    _ dc: RISCVIOMMUDeviceContext, _ did: UInt32, _ address: UInt64, _ isWrite: Bool, levels: Int
  ) throws(Fault) -> UInt64 {
    let s = RISCVIOMMUSpec.self
    let pageFault = Fault(
      cause: isWrite ? s.causeWritePageFault : s.causeReadPageFault, reason: "first-stage page fault")
    let key = IOTLBKey(deviceID: did, page: address >> 12)
    if let hit = iotlb[key], !isWrite || hit.writable {
      return hit.physicalPage << 12 | (address & 0xfff)
    }
    let vaBits = 12 + 9 * levels
    let upper = Int64(bitPattern: address) >> (vaBits - 1)
    guard upper == 0 || upper == -1 else { throw pageFault }
    var table = (dc.fsc & ((1 << 44) - 1)) << 12
    for level in stride(from: levels - 1, through: 0, by: -1) {
      let vpn = (address >> UInt64(12 + 9 * level)) & 0x1ff
      guard let pte = try? memory.read64(table + vpn * 8) else {
        throw Fault(cause: isWrite ? s.causeWriteAccessFault : s.causeReadAccessFault, reason: "PTE load access fault")
      }
      let valid = pte & 1 != 0
      let read = pte & 2 != 0
      let write = pte & 4 != 0
      let execute = pte & 8 != 0
      guard valid, read || !write else { throw pageFault }
      let ppn = (pte >> 10) & ((1 << 44) - 1)
      if read || execute {
        let accessed = pte & (1 << 6) != 0
        let dirty = pte & (1 << 7) != 0
        guard isWrite ? (write && dirty) : read, accessed else { throw pageFault }
        let lowBits = UInt64(9 * level)
        guard ppn & ((1 << lowBits) - 1) == 0 else { throw pageFault }
        let physicalPage = ppn | ((address >> 12) & ((1 << lowBits) - 1))
        iotlb[key] = IOTLBEntry(pscid: dc.pscid, physicalPage: physicalPage, writable: write && dirty)
        return physicalPage << 12 | (address & 0xfff)
      }
      table = ppn << 12
    }
    throw pageFault
  }
}
