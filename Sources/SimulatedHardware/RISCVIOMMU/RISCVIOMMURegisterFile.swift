import MMIO

extension RISCVIOMMUSpec {
  /// The register file with QEMU 10's masks (riscv_iommu_realize): every register starts
  /// read-only and is opened field by field. Software-owned queue indices (CQT, FQH, PQH) are
  /// declared writable here; the hardware model refuses writes to them while the queue is off.
  static func registerDefinitions(_ c: RISCVIOMMUConfiguration, platform: Bool)
    -> [SimulatedRegisterFile.Definition]
  {
    let all64: UInt64 = ~0
    let all32: UInt64 = 0xffff_ffff
    let queueBase = ppnMask | queueLog2SizeMask
    let ddtpWritable = ppnMask | ddtpModeMask
    let fctlWritable = fctlBigEndian | fctlWSI
    let csrReadOnly = csrOn | csrBusy
    var defs: [SimulatedRegisterFile.Definition] = [
      .init(
        "CAPABILITIES", offset: capabilities, width: .qword, reset: c.capabilities,
        readOnly: all64),
      .init("FCTL", offset: fctl, width: .dword, readOnly: all32 & ~fctlWritable),
      .init(
        "DDTP", offset: ddtp, width: .qword, reset: c.resetMode.rawValue,
        readOnly: ~ddtpWritable),
      .init("CQB", offset: cqb, width: .qword, readOnly: ~queueBase),
      .init("CQH", offset: cqh, width: .dword, readOnly: all32),
      .init("CQT", offset: cqt, width: .dword),
      .init("FQB", offset: fqb, width: .qword, readOnly: ~queueBase),
      .init("FQH", offset: fqh, width: .dword),
      .init("FQT", offset: fqt, width: .dword, readOnly: all32),
      .init("PQB", offset: pqb, width: .qword, readOnly: ~queueBase),
      .init("PQH", offset: pqh, width: .dword),
      .init("PQT", offset: pqt, width: .dword, readOnly: all32),
      // QEMU quirk kept: FENCE_W_IP and the reserved bits are plain read-write.
      .init(
        "CQCSR", offset: cqcsr, width: .dword, readOnly: csrReadOnly,
        writeOneToClear: csrMemoryFault | csrTimeoutOrOverflow | cqcsrCommandIllegal),
      .init(
        "FQCSR", offset: fqcsr, width: .dword, readOnly: csrReadOnly,
        writeOneToClear: csrMemoryFault | csrTimeoutOrOverflow),
      .init(
        "PQCSR", offset: pqcsr, width: .dword, readOnly: csrReadOnly,
        writeOneToClear: csrMemoryFault | csrTimeoutOrOverflow),
      .init("IPSR", offset: ipsr, width: .dword, readOnly: all32 & ~0xf, writeOneToClear: 0xf),
      .init("IOCOUNTOVF", offset: iocountovf, width: .dword, readOnly: all32),
      .init(
        "IOCOUNTINH", offset: iocountinh, width: .dword,
        readOnly: all32 & ~((1 << UInt64(min(c.hpmCounters + 1, 32))) - 1)),
      .init(
        "IOHPMCYCLES", offset: iohpmcycles, width: .qword,
        readOnly: c.hpmCounters > 0 ? 0 : all64),
      .init("TR_REQ_IOVA", offset: trReqIOVA, width: .qword),
      .init("TR_REQ_CTL", offset: trReqCtl, width: .qword, readOnly: 1),
      .init("TR_RESPONSE", offset: trResponse, width: .qword, readOnly: all64),
      .init("ICVEC", offset: icvec, width: .qword, readOnly: ~0xffff),
    ]
    for n in 1..<32 {
      let implemented = n <= c.hpmCounters
      defs.append(
        .init(
          "IOHPMCTR\(n)", offset: iohpmctrBase + 8 * (n - 1), width: .qword,
          readOnly: implemented ? 0 : all64))
      defs.append(
        .init(
          "IOHPMEVT\(n)", offset: iohpmevtBase + 8 * (n - 1), width: .qword,
          readOnly: implemented ? 0 : all64))
    }
    if platform {
      // On PCI the MSI-X table overlays 0x300; the platform IOMMU has its own MSI config table.
      for n in 0..<16 {
        let base = msiConfigTable + 16 * n
        defs.append(.init("MSI_ADDR\(n)", offset: base, width: .qword, readOnly: ~(((1 << 54) - 1) << 2)))
        defs.append(.init("MSI_DATA\(n)", offset: base + 8, width: .dword))
        defs.append(.init("MSI_CTRL\(n)", offset: base + 12, width: .dword, reset: 1, readOnly: ~1))
      }
    }
    return defs
  }
}
