/// The properties of QEMU 10's `intel-iommu` device that shape CAP and ECAP
/// (`-device intel-iommu,aw-bits=48,intremap=on,...`), with QEMU's defaults.
///
/// Mirrors vtd_cap_init() in hw/i386/intel_iommu.c: the same inputs give the same CAP/ECAP, so
/// `VTdConfiguration(interruptRemapping: true)` yields the unit of the reference trace
/// (`cap d2008c222f0606 ecap f00f4a`). Other silicon is described by overriding ``cap`` or
/// ``ecap`` directly (`iommu-model check intel-iommu --set CAP=...` does that).
public struct VTdConfiguration: Sendable, Hashable {
  /// `aw-bits`: 39 or 48 (QEMU 10 default 48).
  public var addressWidth: Int = 48
  /// `caching-mode` (default off; on for vfio assignment).
  public var cachingMode = false
  /// `intremap` (default off; the reference trace turns it on).
  public var interruptRemapping = false
  /// `eim` (extended interrupt mode; QEMU turns it on only with an in-kernel irqchip).
  public var extendedInterruptMode = false
  /// `pt` (pass-through context entries, default on).
  public var passThrough = true
  /// `dma-drain` (default on).
  public var dmaDrain = true
  /// `dma-translation` (default on): without it SAGAW is 0 and TE is ignored.
  public var dmaTranslation = true
  /// `x-scalable-mode` (default off).
  public var scalableMode = false
  /// `device-iotlb` (default off).
  public var deviceIOTLB = false
  /// `snoop-control` (default off).
  public var snoopControl = false
  /// Not a QEMU property: real chipsets with protected memory regions report PLMR/PHMR and
  /// implement PMEN.EPM/PRS. QEMU has neither (PMEN reads 0).
  public var protectedMemoryRegions = false
  /// VER (QEMU: 0x10, version 1.0).
  public var version: UInt32 = 0x10
  /// Overrides the computed CAP (another chipset).
  public var capOverride: UInt64?
  /// Overrides the computed ECAP.
  public var ecapOverride: UInt64?

  public init(
    addressWidth: Int = 48, cachingMode: Bool = false, interruptRemapping: Bool = false,
    scalableMode: Bool = false
  ) {
    self.addressWidth = addressWidth
    self.cachingMode = cachingMode
    self.interruptRemapping = interruptRemapping
    self.scalableMode = scalableMode
  }

  /// `-device intel-iommu` with every property at its default.
  public static let qemuDefault = VTdConfiguration()
  /// `-device intel-iommu,intremap=on`: the unit of ../shared/reference/linux-7.2-traces/intel-iommu.poweroff.trace.
  public static let qemuIntremap = VTdConfiguration(interruptRemapping: true)

  /// CAP as vtd_cap_init() builds it.
  public var cap: UInt64 {
    if let capOverride { return capOverride }
    var cap: UInt64 = 0
    cap |= UInt64(VTd.faultRecordOffset / 16) << 24  // FRO
    cap |= 0 << 40  // NFR - 1: one fault recording register
    cap |= 6  // ND: 16-bit domain IDs
    cap |= 18 << 48  // MAMV
    cap |= 1 << 39  // PSI
    cap |= 0x3 << 34  // SLLPS: 2 MiB and 1 GiB
    cap |= UInt64(addressWidth - 1) << 16  // MGAW
    if dmaDrain { cap |= 1 << 54 | 1 << 55 }  // DWD, DRD
    if dmaTranslation {
      cap |= 1 << 9  // SAGAW 39-bit
      if addressWidth == 48 { cap |= 1 << 10 }  // SAGAW 48-bit
    }
    if cachingMode { cap |= 1 << 7 }
    if protectedMemoryRegions { cap |= 1 << 5 | 1 << 6 }
    return cap
  }

  /// ECAP as vtd_cap_init() builds it.
  public var ecap: UInt64 {
    if let ecapOverride { return ecapOverride }
    var ecap: UInt64 = 1 << 1  // QI
    ecap |= UInt64(VTd.iotlbRegisterOffset / 16) << 8  // IRO
    if interruptRemapping {
      ecap |= 1 << 3 | 0xF << 20  // IR, MHMV
      if extendedInterruptMode { ecap |= 1 << 4 }
    }
    if deviceIOTLB { ecap |= 1 << 2 }
    if passThrough { ecap |= 1 << 6 }
    if scalableMode { ecap |= 1 << 43 | 1 << 31 | 1 << 46 }  // SMTS, SRS, SLTS
    if snoopControl { ecap |= 1 << 7 }
    return ecap
  }
}

/// Offsets and bits of the VT-d register set (VT-d specification chapter 11), as the hardware
/// model names them.
public enum VTd {
  public static let VER = 0x00
  public static let CAP = 0x08
  public static let ECAP = 0x10
  public static let GCMD = 0x18
  public static let GSTS = 0x1C
  public static let RTADDR = 0x20
  public static let CCMD = 0x28
  public static let FSTS = 0x34
  public static let FECTL = 0x38
  public static let FEDATA = 0x3C
  public static let FEADDR = 0x40
  public static let FEUADDR = 0x44
  public static let PMEN = 0x64
  public static let PLMBASE = 0x68
  public static let PLMLIMIT = 0x6C
  public static let PHMBASE = 0x70
  public static let PHMLIMIT = 0x78
  public static let IQH = 0x80
  public static let IQT = 0x88
  public static let IQA = 0x90
  public static let ICS = 0x9C
  public static let IECTL = 0xA0
  public static let IEDATA = 0xA4
  public static let IEADDR = 0xA8
  public static let IEUADDR = 0xAC
  public static let IRTA = 0xB8
  /// ECAP.IRO × 16 in QEMU.
  public static let iotlbRegisterOffset = 0xF0
  public static let IVA = 0xF0
  public static let IOTLB = 0xF8
  /// CAP.FRO × 16 in QEMU: one 16-byte fault recording register.
  public static let faultRecordOffset = 0x220
  /// DMAR_REG_SIZE in QEMU.
  public static let registerSize = 0x230

  /// GCMD command bits and the GSTS status bit each one drives (same positions).
  public static let TE: UInt32 = 1 << 31
  public static let SRTP: UInt32 = 1 << 30
  public static let SFL: UInt32 = 1 << 29
  public static let EAFL: UInt32 = 1 << 28
  public static let WBF: UInt32 = 1 << 27
  public static let QIE: UInt32 = 1 << 26
  public static let IRE: UInt32 = 1 << 25
  public static let SIRTP: UInt32 = 1 << 24
  public static let CFI: UInt32 = 1 << 23

  /// RTADDR.TTM/SMT: scalable-mode root table.
  public static let rtaddrSMT: UInt64 = 1 << 10

  /// FSTS bits.
  public static let fstsPFO: UInt32 = 1 << 0
  public static let fstsPPF: UInt32 = 1 << 1
  public static let fstsIQE: UInt32 = 1 << 4
  /// FRCD high-qword fault bit (bit 127 of the record).
  public static let frcdF: UInt64 = 1 << 63
}
