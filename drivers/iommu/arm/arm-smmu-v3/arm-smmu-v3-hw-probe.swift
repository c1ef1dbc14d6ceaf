import DeviceCore
import Kernel
import MMIO

extension ARMSMMUv3Device {
  /// Mirrors arm_smmu_device_hw_probe(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// reads IDR0, IDR1, IDR3, IDR5 and IIDR into features, sizes and the DMA mask; -ENXIO for
  /// what the driver cannot drive.
  func hwProbe() throws(Errno) {
    let coherent = features.contains(.coherency)

    // IDR0
    var reg = try readl(Reg.IDR0)
    if reg[bits: IDR0.ST_LVL] == IDR0.ST_LVL_2LVL { features.insert(.twoLevelStrtab) }
    if reg[bit: IDR0.CD2L] { features.insert(.twoLevelCDTab) }

    // Translation table endianness must match the CPU's (little-endian here).
    let bigEndian = kernel?.context.config.cpuBigEndian ?? false
    switch reg[bits: IDR0.TTENDIAN] {
    case IDR0.TTENDIAN_MIXED: features.formUnion([.ttLE, .ttBE])
    case IDR0.TTENDIAN_BE where bigEndian: features.insert(.ttBE)
    case IDR0.TTENDIAN_LE where !bigEndian: features.insert(.ttLE)
    default:
      dev.err("unknown/unsupported TT endianness!")
      throw .ENXIO
    }

    // Boolean feature flags (CONFIG_PCI_PRI and CONFIG_PCI_ATS are set in Debian's kernels).
    if reg[bit: IDR0.PRI] { features.insert(.pri) }
    if reg[bit: IDR0.ATS] { features.insert(.ats) }
    if reg[bit: IDR0.SEV] { features.insert(.sev) }
    if reg[bit: IDR0.MSI] {
      features.insert(.msi)
      let disableMSIPolling =
        kernel?.context.boolParameter("arm_smmu_v3", "disable_msipolling", default: false) ?? false
      if coherent && !disableMSIPolling { options.insert(.msiPoll) }
    }
    if reg[bit: IDR0.HYP] {
      features.insert(.hyp)
      // E2H needs a VHE host (ARM64_HAS_VIRT_HOST_EXTN); the modelled CPU runs the kernel at
      // EL1 under QEMU's TCG, so it is not set.
    }
    getHTTU(reg)

    // The coherency feature as set by firmware wins over the ID register.
    if reg[bit: IDR0.COHACC] != coherent {
      dev.warn("IDR0.COHACC overridden by FW configuration (\(coherent ? "true" : "false"))")
    }

    switch reg[bits: IDR0.STALL_MODEL] {
    case IDR0.STALL_MODEL_FORCE: features.formUnion([.stallForce, .stalls])
    case IDR0.STALL_MODEL_STALL: features.insert(.stalls)
    default: break
    }

    if reg[bit: IDR0.S1P] { features.insert(.transS1) }
    if reg[bit: IDR0.S2P] { features.insert(.transS2) }
    if !reg[bit: IDR0.S1P] && !reg[bit: IDR0.S2P] {
      dev.err("no translation support!")
      throw .ENXIO
    }

    // Only the AArch64 table format is supported.
    switch reg[bits: IDR0.TTF] {
    case IDR0.TTF_AARCH32_64: ias = 40
    case IDR0.TTF_AARCH64: break
    default:
      dev.err("AArch64 table format not supported!")
      throw .ENXIO
    }

    asidBits = reg[bit: IDR0.ASID16] ? 16 : 8
    vmidBits = reg[bit: IDR0.VMID16] ? 16 : 8

    // IDR1
    reg = try readl(Reg.IDR1)
    if reg[bit: IDR1.TABLES_PRESET] || reg[bit: IDR1.QUEUES_PRESET] || reg[bit: IDR1.REL] {
      dev.err("embedded implementation not supported")
      throw .ENXIO
    }
    if reg[bit: IDR1.ATTR_TYPES_OVR] { features.insert(.attrTypesOvr) }

    // Queue sizes, capped to ensure natural alignment.
    cmdq.maxNShift = min(Queue.MAX_SZ_SHIFT - 4, reg[bits: IDR1.CMDQS])
    if cmdq.maxNShift <= UInt32(Queue.CMDQ_BATCH_ENTRIES.trailingZeroBitCount) {
      // One batch plus a sync must fit; a unit-length queue cannot be aligned either.
      dev.err("command queue size <= \(Queue.CMDQ_BATCH_ENTRIES) entries not supported")
      throw .ENXIO
    }
    evtq.maxNShift = min(Queue.MAX_SZ_SHIFT - 5, reg[bits: IDR1.EVTQS])
    priq.maxNShift = min(Queue.MAX_SZ_SHIFT - 4, reg[bits: IDR1.PRIQS])

    ssidBits = reg[bits: IDR1.SSIDSIZE]
    sidBits = reg[bits: IDR1.SIDSIZE]
    // Fewer SID bits than one L2 table covers: a linear table instead.
    if sidBits <= Strtab.SPLIT { features.remove(.twoLevelStrtab) }

    // IDR3
    reg = try readl(Reg.IDR3)
    if reg[bit: IDR3.RIL] { features.insert(.rangeInv) }
    if reg[bit: IDR3.FWB] { features.insert(.s2fwb) }
    if reg[bits: IDR3.BBM] == 2 { features.insert(.bbml2) }

    // IDR5
    reg = try readl(Reg.IDR5)
    if reg[bit: IDR5.GRAN64K] { pgsizeBitmap |= 1 << 16 | 1 << 29 }
    if reg[bit: IDR5.GRAN16K] { pgsizeBitmap |= 1 << 14 | 1 << 25 }
    if reg[bit: IDR5.GRAN4K] { pgsizeBitmap |= 1 << 12 | 1 << 21 | 1 << 30 }
    if reg[bits: IDR5.VAX] == 1 { features.insert(.vax) }
    switch reg[bits: IDR5.OAS] {
    case 0: oas = 32
    case 1: oas = 36
    case 2: oas = 40
    case 3: oas = 42
    case 4: oas = 44
    case 6:
      oas = 52
      pgsizeBitmap |= 1 << 42
    case 5: oas = 48
    default:
      dev.info("unknown output address size. Truncating to 48-bit")
      oas = 48
    }
    // dma_set_mask_and_coherent(DMA_BIT_MASK(oas)) cannot fail for these widths.
    ias = max(ias, oas)

    if features.contains(.transS1) && features.contains(.transS2) { features.insert(.nesting) }

    try iidrProbe()

    // SVA needs BTM or a CPU/SMMU pairing the modelled system does not have; left clear.
    dev.info("oas \(oas)-bit (features \(hex(features.rawValue, digits: 8)))")
  }

  /// Mirrors arm_smmu_get_httu(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// HTTU from IDR0, unless firmware already said (the IORT override).
  private func getHTTU(_ reg: UInt32) {
    let fw = features.intersection([.ha, .hd])
    var hw: ARMSMMUv3Features = []
    switch reg[bits: IDR0.HTTU] {
    case 2: hw = [.ha, .hd]
    case 1: hw = [.ha]
    default: break
    }
    if fw.isEmpty {
      features.formUnion(hw)
    } else if fw != hw {
      dev.warn(
        "IDR0.HTTU features(0x\(String(hw.rawValue, radix: 16))) overridden by FW configuration (0x\(String(fw.rawValue, radix: 16)))"
      )
    }
  }

  /// Mirrors arm_smmu_device_iidr_probe(), drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (Linux 7.2):
  /// Arm MMU-600/700 errata clear SEV, BTM or NESTING.
  private func iidrProbe() throws(Errno) {
    let reg = try readl(Reg.IIDR)
    let implementer = reg & 0xfff
    let productID = reg >> 20
    let variant = reg[bits: 16...19]
    let revision = reg[bits: 12...15]
    guard implementer == 0x43b else { return }  // IIDR_IMPLEMENTER_ARM
    switch productID {
    case 0x483:  // MMU-600
      // Arm erratum 1076982.
      if variant == 0 && revision <= 2 { features.remove(.sev) }
      // Arm erratum 1209401.
      if variant < 2 { features.remove(.nesting) }
    case 0x487:  // MMU-700
      // Arm errata 2812531 and 2268618.
      features.remove(.btm)
      options.insert(.cmdqForceSync)
      features.remove(.nesting)
    default: break
    }
  }
}
