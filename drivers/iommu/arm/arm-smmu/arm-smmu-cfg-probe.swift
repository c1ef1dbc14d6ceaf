import DeviceCore
import Kernel
import MMIO

/// Mirrors arm_smmu_id_size_to_bits(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2).
func armSMMUIDSizeToBits(_ size: UInt32) -> Int {
  switch size {
  case 0: 32
  case 1: 36
  case 2: 40
  case 3: 42
  case 4: 44
  default: 48
  }
}

extension ARMSMMUDriver {
  /// Mirrors arm_smmu_device_cfg_probe(), drivers/iommu/arm/arm-smmu/arm-smmu.c (Linux 7.2):
  /// reads ID0, ID1 and ID2 (nothing is written), logs what it finds, and refuses an SMMU with
  /// no translation stage, stream matching with no SMRs, or more stage-2 banks than banks.
  func deviceCfgProbe(_ smmu: ARMSMMUDevice) throws(Errno) {
    let dev = smmu.dev
    let cttwFW = smmu.features.contains(.coherentWalk)
    dev.notice("probing hardware configuration...")
    dev.notice("SMMUv\(smmu.version == .v2 ? 2 : 1) with:")

    // ID0
    var id = try smmu.gr0Read(GR0.ID0)
    // Restrict the available stages to the module parameter's.
    if smmu.forceStage == 1 {
      id &= ~(ID0.S2TS | ID0.NTS)
    } else if smmu.forceStage == 2 {
      id &= ~(ID0.S1TS | ID0.NTS)
    }
    if id & ID0.S1TS != 0 {
      smmu.features.insert(.transS1)
      dev.notice("\tstage 1 translation")
    }
    if id & ID0.S2TS != 0 {
      smmu.features.insert(.transS2)
      dev.notice("\tstage 2 translation")
    }
    if id & ID0.NTS != 0 {
      smmu.features.insert(.transNested)
      dev.notice("\tnested translation")
    }
    if smmu.features.isDisjoint(with: [.transS1, .transS2]) {
      dev.err("\tno translation support!")
      throw .ENODEV
    }
    if id & ID0.S1TS != 0 && (smmu.version < .v2 || id & ID0.ATOSNS == 0) {
      smmu.features.insert(.transOps)
      dev.notice("\taddress translation ops")
    }
    // Firmware's word on coherency wins over the register's.
    let cttwReg = id & ID0.CTTW != 0
    if cttwFW || cttwReg { dev.notice("\t\(cttwFW ? "" : "non-")coherent table walk") }
    if cttwFW != cttwReg { dev.notice("\t(IDR0.CTTW overridden by FW configuration)") }

    // Max. number of entries for stream matching/indexing.
    var size: Int
    if smmu.version == .v2 && id & ID0.EXIDS != 0 {
      smmu.features.insert(.exids)
      size = 1 << 16
    } else {
      size = 1 << Int(id[bits: ID0.NUMSIDB])
    }
    smmu.streamidMask = UInt16(truncatingIfNeeded: size - 1)
    if id & ID0.SMS != 0 {
      smmu.features.insert(.streamMatch)
      size = Int(id[bits: ID0.NUMSMRG])
      if size == 0 {
        dev.err("stream-matching supported, but no SMRs present!")
        throw .ENODEV
      }
      // Zero-initialised: every SMR invalid.
      smmu.smrs = Array(repeating: ARMSMMUSMR(), count: size)
      dev.notice("\tstream matching with \(size) register groups")
    }
    // s2cr->type == 0 means translation, so initialise explicitly.
    smmu.s2crs = Array(repeating: smmu.s2crInitVal, count: size)
    smmu.numMappingGroups = size

    if smmu.version < .v2 || id & ID0.PTFS_NO_AARCH32 == 0 {
      smmu.features.insert(.fmtAArch32_L)
      if id & ID0.PTFS_NO_AARCH32S == 0 { smmu.features.insert(.fmtAArch32_S) }
    }

    // ID1
    id = try smmu.gr0Read(GR0.ID1)
    smmu.pgshift = id & ID1.PAGESIZE != 0 ? 16 : 12
    // Check for a size mismatch of the SMMU address space against the mapped region.
    size = 1 << (Int(id[bits: ID1.NUMPAGENDXB]) + 1)
    if smmu.numpage != 2 * size << smmu.pgshift {
      dev.warn(
        "SMMU address space size (\(hex(2 * size << smmu.pgshift))) differs from mapped region size (\(hex(smmu.numpage)))!"
      )
    }
    // Now NUMPAGE is encoded properly, to derive the context banks' base.
    smmu.numpage = size
    smmu.numS2ContextBanks = Int(id[bits: ID1.NUMS2CB])
    smmu.numContextBanks = Int(id[bits: ID1.NUMCB])
    if smmu.numS2ContextBanks > smmu.numContextBanks {
      dev.err("impossible number of S2 context banks!")
      throw .ENODEV
    }
    dev.notice(
      "\t\(smmu.numContextBanks) context banks (\(smmu.numS2ContextBanks) stage-2 only)")
    smmu.cbs = Array(repeating: nil, count: smmu.numContextBanks)

    // ID2
    id = try smmu.gr0Read(GR0.ID2)
    smmu.ipaSize = armSMMUIDSizeToBits(id[bits: ID2.IAS])
    // The output mask is also applied for bypass.
    smmu.paSize = armSMMUIDSizeToBits(id[bits: ID2.OAS])
    if id & ID2.VMID16 != 0 { smmu.features.insert(.vmid16) }
    // dma_set_mask_and_coherent(DMA_BIT_MASK(pa_size)) cannot fail in the model.
    if smmu.version < .v2 {
      smmu.vaSize = smmu.ipaSize
      if smmu.version == .v1_64K { smmu.features.insert(.fmtAArch64_64K) }
    } else {
      smmu.vaSize = armSMMUIDSizeToBits(id[bits: ID2.UBS])
      if id & ID2.PTFS_4K != 0 { smmu.features.insert(.fmtAArch64_4K) }
      if id & ID2.PTFS_16K != 0 { smmu.features.insert(.fmtAArch64_16K) }
      if id & ID2.PTFS_64K != 0 { smmu.features.insert(.fmtAArch64_64K) }
    }

    // What the formats allow.
    let SZ_4K: UInt64 = 0x1000
    let SZ_16K: UInt64 = 0x4000
    let SZ_64K: UInt64 = 0x10000
    let SZ_1M: UInt64 = 0x10_0000
    let SZ_2M: UInt64 = 0x20_0000
    let SZ_16M: UInt64 = 0x100_0000
    let SZ_32M: UInt64 = 0x200_0000
    let SZ_512M: UInt64 = 0x2000_0000
    let SZ_1G: UInt64 = 0x4000_0000
    if smmu.features.contains(.fmtAArch32_S) { smmu.pgsizeBitmap |= SZ_4K | SZ_64K | SZ_1M | SZ_16M }
    if !smmu.features.isDisjoint(with: [.fmtAArch32_L, .fmtAArch64_4K]) {
      smmu.pgsizeBitmap |= SZ_4K | SZ_2M | SZ_1G
    }
    if smmu.features.contains(.fmtAArch64_16K) { smmu.pgsizeBitmap |= SZ_16K | SZ_32M }
    if smmu.features.contains(.fmtAArch64_64K) { smmu.pgsizeBitmap |= SZ_64K | SZ_512M }
    dev.notice("\tSupported page sizes: \(hex(smmu.pgsizeBitmap, digits: 8))")
    if smmu.features.contains(.transS1) {
      dev.notice("\tStage-1: \(smmu.vaSize)-bit VA -> \(smmu.ipaSize)-bit IPA")
    }
    if smmu.features.contains(.transS2) {
      dev.notice("\tStage-2: \(smmu.ipaSize)-bit IPA -> \(smmu.paSize)-bit PA")
    }
  }
}
