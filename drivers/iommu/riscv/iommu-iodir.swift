import DeviceCore
import Kernel
import MMIO
import Memory

// Mirrors the device-directory half of drivers/iommu/riscv/iommu.c (Linux 7.2): iodir_alloc,
// iodir_set_mode with the step-down over DDT levels, device contexts, and the probe_device /
// attach paths the IOMMU core drives at iommu_device_register().

/// The static domains a device can be attached to (paging domains are not modelled).
public enum RISCVIOMMUDomainType: String, Sendable, Hashable {
  /// `riscv_iommu_identity_domain`: TC.V=1, FSC=BARE.
  case identity
  /// `riscv_iommu_blocking_domain`: TC.V=0, translation requests fault.
  case blocked
}

extension RISCVIOMMUDevice {
  /// Mirrors the riscv_iommu_read_ddtp() macro, drivers/iommu/riscv/iommu.c (Linux 7.2): poll
  /// DDTP every 10 µs until BUSY clears, for up to 10 s of simulated time.
  public func readDDTP() throws(Errno) -> Polled<UInt64> {
    try readqTimeout(RISCVIOMMUDDTP.offset, sleepUs: 10, timeoutUs: RISCV_IOMMU_DDTP_TIMEOUT) {
      $0 & RISCVIOMMUDDTP.BUSY == 0
    }
  }

  /// Mirrors riscv_iommu_iodir_alloc(), drivers/iommu/riscv/iommu.c (Linux 7.2).
  func iodirAlloc() throws(Errno) {
    var ddtp = try readDDTP().value
    if ddtp & RISCVIOMMUDDTP.BUSY != 0 { throw .EBUSY }
    // The hardware may report a fixed directory root while DDTP.MODE is OFF or BARE.
    let mode = ddtp & 0xf
    if mode == RISCVIOMMUDDTPMode.bare.rawValue || mode == RISCVIOMMUDDTPMode.off.rawValue {
      // Use WARL to discover a hardware-fixed DDT PPN.
      try writeq(RISCVIOMMUDDTP.offset, mode)
      ddtp = try readDDTP().value
      if ddtp & RISCVIOMMUDDTP.BUSY != 0 { throw .EBUSY }
      ddtPhys = ppn_to_phys(ddtp)
      if ddtPhys != 0, (try? memory?.fill(ddtPhys, length: 4096)) != nil {
        ddtRootValid = true
      }
    }
    if !ddtRootValid {
      guard let page = getPages(4096) else { throw .ENOMEM }
      ddtPhys = page
      ddtRootValid = true
    }
  }

  /// Mirrors riscv_iommu_iodir_set_mode(), drivers/iommu/riscv/iommu.c (Linux 7.2): try the
  /// requested mode and step down through the DDT levels the hardware refuses.
  public func iodirSetMode(_ ddtpMode: RISCVIOMMUDDTPMode) throws(Errno) {
    var ddtp = try readDDTP().value
    if ddtp & RISCVIOMMUDDTP.BUSY != 0 { throw .EBUSY }

    // Disallow state transition from xLVL to xLVL.
    var mode = ddtp & 0xf
    var rqMode = ddtpMode.rawValue
    let bare = RISCVIOMMUDDTPMode.bare.rawValue
    let off = RISCVIOMMUDDTPMode.off.rawValue
    let oneLevel = RISCVIOMMUDDTPMode.oneLevel.rawValue
    if mode != bare && mode != off && rqMode != bare && rqMode != off { throw .EINVAL }

    while true {
      var rqDDTP = rqMode
      if rqMode > bare { rqDDTP |= phys_to_ppn(ddtPhys) }
      try writeq(RISCVIOMMUDDTP.offset, rqDDTP)
      ddtp = try readDDTP().value
      if ddtp & RISCVIOMMUDDTP.BUSY != 0 {
        dev.err("timeout when setting ddtp (ddt mode: \(rqMode), read: \(String(ddtp, radix: 16)))")
        throw .EBUSY
      }
      // Verify the hardware accepts the new DDTP configuration.
      mode = ddtp & 0xf
      if rqMode == mode { break }
      // A mandatory mode (OFF or BARE) was not accepted.
      if rqMode < oneLevel && rqDDTP != ddtp {
        dev.err("DDTP update failed hw: \(String(ddtp, radix: 16)) vs \(String(rqDDTP, radix: 16))")
        throw .EINVAL
      }
      // MODE is WARL: an unsupported depth reads back as OFF/BARE; try one level less.
      if mode < oneLevel && rqMode > oneLevel {
        dev.dbg("DDTP hw mode \(mode) vs \(rqMode)")
        rqMode -= 1
        continue
      }
      dev.err("DDTP hw mode \(mode), failed to set \(ddtpMode.rawValue)")
      throw .EINVAL
    }

    ddtMode = RISCVIOMMUDDTPMode(rawValue: mode) ?? .off
    if mode != ddtpMode.rawValue { dev.dbg("DDTP hw mode \(mode), requested \(ddtpMode.rawValue)") }

    try invalidateAll()
  }

  /// The tail of riscv_iommu_iodir_set_mode(), drivers/iommu/riscv/iommu.c (Linux 7.2):
  /// IODIR.INVAL_DDT and IOTINVAL.VMA for everything, then IOFENCE.C and the wait. Public so a
  /// prototype can invalidate after editing tables in memory.
  public func invalidateAll() throws(Errno) {
    try cmdSend(.iodirInvalDDT())
    try cmdSend(.invalVMA())
    try cmdSync(timeoutUs: RISCV_IOMMU_IOTINVAL_TIMEOUT)
  }

  /// Mirrors riscv_iommu_get_dc(), drivers/iommu/riscv/iommu.c (Linux 7.2): the physical address
  /// of `devid`'s device context, allocating non-leaf directory pages on the way.
  public func getDC(_ devid: UInt32) -> UInt64? {
    guard let memory, ddtMode >= .oneLevel, ddtMode <= .threeLevel else { return nil }
    let baseFormat = !caps.msiFlat
    // Device ID split: 7/9/8 bits (base format) or 6/9/9 bits (extended format).
    let ddiBits: [UInt32] = baseFormat ? [7, 16, 24] : [6, 15, 24]
    var depth = Int(ddtMode.rawValue - RISCVIOMMUDDTPMode.oneLevel.rawValue)
    guard UInt64(devid) < (1 << UInt64(ddiBits[depth])) else { return nil }
    var table = ddtPhys
    while depth > 0 {
      depth -= 1
      let entry = table + UInt64((devid >> ddiBits[depth]) & 0x1ff) * 8
      guard let ddt = try? memory.read64(entry) else { return nil }
      if ddt & RISCVIOMMUDC.DDTE_V != 0 {
        table = ppn_to_phys(ddt)
        continue
      }
      guard let page = getPages(4096) else { return nil }
      guard (try? memory.write64(phys_to_ppn(page) | RISCVIOMMUDC.DDTE_V, at: entry)) != nil else { return nil }
      table = page
    }
    let index = UInt64(devid & ((64 << (baseFormat ? 1 : 0)) - 1))
    return table + (index << (baseFormat ? 5 : 6))
  }

  /// Mirrors riscv_iommu_iodir_update(), drivers/iommu/riscv/iommu.c (Linux 7.2), for devices
  /// without PASIDs and with a BARE IOHGATP (the only configuration Linux 7.2 builds).
  func iodirUpdate(_ ids: [UInt32], fsc: UInt64, ta: UInt64) throws(Errno) {
    guard let memory else { throw .ENODEV }
    var syncRequired = false
    for id in ids {
      guard let dc = getDC(id), let tc = try? memory.read64(dc + RISCVIOMMUDC.tc) else { continue }
      if tc & RISCVIOMMUDC.TC_V == 0 { continue }
      try? memory.write64(tc & ~RISCVIOMMUDC.TC_V, at: dc + RISCVIOMMUDC.tc)
      var inval = RISCVIOMMUCommand.iodirInvalDDT()
      inval.setDID(id)
      try cmdSend(inval)
      try iodirIotinval(dc)
      syncRequired = true
    }
    if syncRequired { try cmdSync(timeoutUs: RISCV_IOMMU_IOTINVAL_TIMEOUT) }

    for id in ids {
      guard let dc = getDC(id), var tc = try? memory.read64(dc + RISCVIOMMUDC.tc) else { continue }
      tc |= ta & RISCVIOMMUDC.TC_V
      try? memory.write64(fsc, at: dc + RISCVIOMMUDC.fsc)
      try? memory.write64(ta & RISCVIOMMUDC.PC_TA_PSCID, at: dc + RISCVIOMMUDC.ta)
      // TC.V is written last.
      try? memory.write64(tc, at: dc + RISCVIOMMUDC.tc)
      var inval = RISCVIOMMUCommand.iodirInvalDDT()
      inval.setDID(id)
      try cmdSend(inval)
      try iodirIotinval(dc)
    }
    try cmdSync(timeoutUs: RISCV_IOMMU_IOTINVAL_TIMEOUT)
  }

  /// Mirrors riscv_iommu_iodir_iotinval(), drivers/iommu/riscv/iommu.c (Linux 7.2), with
  /// inval_pdt false and a BARE IOHGATP.
  func iodirIotinval(_ dc: UInt64) throws(Errno) {
    var cmd = RISCVIOMMUCommand.invalVMA()
    let tc = (try? memory?.read64(dc + RISCVIOMMUDC.tc)) ?? 0
    let fsc = (try? memory?.read64(dc + RISCVIOMMUDC.fsc)) ?? 0
    if tc & RISCVIOMMUDC.TC_PDTV == 0 && fsc >> 60 != RISCVIOMMUDC.FSC_BARE {
      let ta = (try? memory?.read64(dc + RISCVIOMMUDC.ta)) ?? 0
      cmd.setPSCID(UInt32((ta & RISCVIOMMUDC.PC_TA_PSCID) >> 12))
    }
    try cmdSend(cmd)
  }

  /// Mirrors riscv_iommu_probe_device(), drivers/iommu/riscv/iommu.c (Linux 7.2): pre-creates
  /// invalid device contexts. A BARE or OFF IOMMU refuses devices (-ENODEV).
  func probeDevice(_ device: Device) throws(Errno) {
    guard let memory, !device.streamIDs.isEmpty else { throw .ENODEV }
    if ddtMode <= .bare { throw .ENODEV }
    for id in device.streamIDs {
      guard let dc = getDC(id) else { throw .ENODEV }
      if let tc = try? memory.read64(dc + RISCVIOMMUDC.tc), tc & RISCVIOMMUDC.TC_V != 0 {
        device.warn("already attached to IOMMU device directory")
      }
      try? memory.write64(0, at: dc + RISCVIOMMUDC.tc)
    }
  }

  /// Mirrors riscv_iommu_attach_identity_domain() and riscv_iommu_attach_blocking_domain(),
  /// drivers/iommu/riscv/iommu.c (Linux 7.2).
  public func attach(_ device: Device, to domain: RISCVIOMMUDomainType) throws(Errno) {
    let ta = domain == .identity ? RISCVIOMMUDC.PC_TA_V : 0
    try iodirUpdate(device.streamIDs, fsc: RISCVIOMMUDC.FSC_BARE, ta: ta)
    attached.removeAll { $0.device === device }
    attached.append((device, domain))
  }

  /// `iommu_device_register()` as far as this driver sees it: every device firmware places behind
  /// this IOMMU is probed (`bus_iommu_probe`), put in a group ("Adding to iommu group N") and
  /// attached to the identity domain, as the reference boot shows for QEMU's host bridge.
  func iommuDeviceRegister() {
    isRegistered = true
    guard let core = dev.core else { return }
    var group = 0
    for device in core.devices where device.iommu === dev {
      do throws(Errno) {
        try probeDevice(device)
        device.info("Adding to iommu group \(group)")
        group += 1
        try attach(device, to: .identity)
      } catch {
        continue
      }
    }
  }

  /// `iommu_device_unregister()`: releasing a device attaches the release domain (blocking).
  func iommuDeviceUnregister() {
    guard isRegistered else { return }
    isRegistered = false
    for entry in attached {
      try? iodirUpdate(entry.device.streamIDs, fsc: RISCVIOMMUDC.FSC_BARE, ta: 0)
    }
    attached = []
  }
}
