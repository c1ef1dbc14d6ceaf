import MMIO

/// The command registers: GCMD → GSTS, register-based CCMD/IOTLB invalidation, PMEN.
extension IntelVTd {
  /// Mirrors vtd_handle_gcmd_write() (QEMU hw/i386/intel_iommu.c): every command completes
  /// inside the write. TE, QIE, IRE and CFI act when the written bit differs from its status
  /// bit; SRTP and SIRTP act whenever written as 1 (level, not edge), and RTPS/IRTPS then stay
  /// set. WBF, SFL and EAFL are ignored (WBFS never rises, so software that polls it sees 0).
  func handleGCMD(_ value: UInt32) {
    let status = gsts
    event("vtd_reg_write_gcmd status \(hex(status)) value \(hex(value))")
    let changed = status ^ value
    if configuration.dmaTranslation && changed & VTd.TE != 0 {
      setStatus(VTd.TE, value & VTd.TE != 0)
    }
    if value & VTd.SRTP != 0 {
      let rtaddr = registers.peek(.qword, at: VTd.RTADDR)
      rootScalable = rtaddr & VTd.rtaddrSMT != 0
      rootPointer = rtaddr & addressMask & ~0xFFF
      event("vtd_reg_dmar_root addr \(hex(rootPointer)) scalable \(rootScalable ? 1 : 0)")
      setStatus(VTd.SRTP, true)
    }
    if changed & VTd.QIE != 0 {
      handleQIE(value & VTd.QIE != 0)
    }
    if value & VTd.SIRTP != 0 && interruptRemappingSupported {
      let irta = registers.peek(.qword, at: VTd.IRTA)
      interruptTable = irta & addressMask & ~0xFFF
      interruptTableEntries = 1 << (Int(irta & 0xF) + 1)
      event("vtd_reg_ir_root addr \(hex(interruptTable)) size \(hex(interruptTableEntries))")
      setStatus(VTd.SIRTP, true)
    }
    if changed & VTd.IRE != 0 && interruptRemappingSupported {
      setStatus(VTd.IRE, value & VTd.IRE != 0)
    }
    if changed & VTd.CFI != 0 && interruptRemappingSupported {
      setStatus(VTd.CFI, value & VTd.CFI != 0)
    }
  }

  /// Mirrors vtd_handle_gcmd_qie(): enabling latches IQA (base, 2^(QS+8) entries, halved for
  /// 256-bit descriptors) and processes a non-zero tail at once; disabling succeeds only when
  /// the queue is drained and its last descriptor was a wait, otherwise QIES stays set.
  func handleQIE(_ enable: Bool) {
    let iqa = registers.peek(.qword, at: VTd.IQA)
    if enable {
      queueWide = iqa & (1 << 11) != 0 && ecap & (1 << 43) != 0
      queueBase = iqa & addressMask & ~0xFFF
      queueEntries = 1 << (Int(iqa & 0x7) + 8 - (queueWide ? 1 : 0))
      queueEnabled = true
      setStatus(VTd.QIE, true)
      if queueTail != 0 { fetchDescriptors() }
    } else if gsts & VTd.QIE != 0 && queueTail == queueHead
      && lastDescriptorType == VTdDescriptor.wait
    {
      registers.poke(0, .qword, at: VTd.IQH)
      queueHead = 0
      queueEnabled = false
      setStatus(VTd.QIE, false)
    }
  }

  /// Mirrors vtd_handle_ccmd_write(): ICC starts a register-based context-cache invalidation,
  /// which completes at once (ICC cleared, CAIG = the granularity asked for). Ignored while
  /// queued invalidation is on, as QEMU and the specification require.
  func handleCCMD(_ value: UInt64) {
    guard value & (1 << 63) != 0, !queueEnabled else { return }
    let granularity = (value >> 61) & 0x3
    let done = (value & ~(UInt64(1) << 63) & ~(UInt64(0x3) << 59)) | (granularity << 59)
    registers.poke(done, .qword, at: VTd.CCMD)
  }

  /// Mirrors vtd_handle_iotlb_write(): IVT starts a register-based IOTLB invalidation, which
  /// completes at once (IVT cleared, IAIG = IIRG). Ignored while queued invalidation is on.
  func handleIOTLB(_ value: UInt64) {
    guard value & (1 << 63) != 0, !queueEnabled else { return }
    let granularity = (value >> 60) & 0x3
    let done = (value & ~(UInt64(1) << 63) & ~(UInt64(0x3) << 57)) | (granularity << 57)
    registers.poke(done, .qword, at: VTd.IOTLB)
  }

  /// PMEN on silicon with protected memory regions: PRS (bit 0) follows EPM (bit 31), unless
  /// ``stuckProtectedRegionStatus`` keeps it set.
  func handlePMEN(_ value: UInt32) {
    let epm = value & (1 << 31)
    let prs: UInt32 = (epm != 0 || stuckProtectedRegionStatus) ? 1 : 0
    registers.poke(UInt64(epm | prs), .dword, at: VTd.PMEN)
  }
}
