import IOMMURegisters
import MMIO
import Testing

@Suite("VT-d CAP/ECAP and AMD EFR decoding with the specification's mnemonics")
struct RegisterDecodeTests {
  func values<R: Register>(_ r: R) -> [String: UInt64] {
    Dictionary(uniqueKeysWithValues: r.decodedFields.map { ($0.name, $0.value) })
  }

  @Test("every CAP and ECAP mnemonic the issue lists is decoded, in register order")
  func mnemonics() {
    #expect(
      VTdCapability.fields.map(\.name) == [
        "ND", "AFL", "RWBF", "PLMR", "PHMR", "CM", "SAGAW", "MGAW", "ZLR", "FRO", "SLLPS", "PSI", "NFR", "MAMV",
        "DWD", "DRD", "FL1GP", "PI", "FL5LP", "ESIRTPS", "ESRTPS",
      ])
    #expect(
      VTdExtendedCapability.fields.map(\.name) == [
        "C", "QI", "DT", "IR", "EIM", "PT", "SC", "IRO", "MHMV", "NEST", "PRS", "ERS", "SRS", "NWFS", "EAFS", "PSS",
        "PASID", "DIT", "PDS", "SMTS", "VCS", "SLADS", "SLTS", "FLTS", "SMPWCS", "RPS", "ADMS", "RPRIVS",
      ])
  }

  @Test("Sapphire Rapids (oracles.md 4.3): MGAW 57, SAGAW 0xC, ND 6, SMTS 1")
  func sapphireRapids() {
    let cap = VTdCapability(raw: 0x19ed_008c_4078_0c66)
    let ecap = VTdExtendedCapability(raw: 0x3_ee9e_86f0_50df)
    #expect(cap.maxGuestAddressWidth == 57 && values(cap)["SAGAW"] == 0xc && values(cap)["ND"] == 6)
    #expect(cap.secondStageLevels == [4, 5])
    #expect(values(ecap)["SMTS"] == 1 && ecap.scalableMode)
  }

  @Test("Xeon Scalable (oracles.md 4.3): NFR 8, FRO 0x100, IRO 0x200")
  func xeonScalable() {
    let cap = VTdCapability(raw: 0x8d_2078_c106_f0466)
    let ecap = VTdExtendedCapability(raw: 0xf0_20df)
    #expect(cap.faultRecordingCount == 8 && cap.faultRecordingOffset == 0x100)
    #expect(ecap.iotlbRegisterOffset == 0x200)
  }

  @Test("client include-all unit (oracles.md 4.3): MGAW 39, SAGAW 0x4, FRO 0x400, IRO 0x500, SC 1")
  func client() {
    let cap = VTdCapability(raw: 0xd2_008c_4066_0462)
    let ecap = VTdExtendedCapability(raw: 0xf0_50da)
    #expect(cap.maxGuestAddressWidth == 39 && values(cap)["SAGAW"] == 0x4 && cap.faultRecordingOffset == 0x400)
    #expect(ecap.iotlbRegisterOffset == 0x500 && values(ecap)["SC"] == 1)
    #expect(cap.domainCount == 256)
  }

  @Test("AMD EFR from an EPYC boot log: PPR, X2APIC, NX, GT, IA, GA, PC as dmesg lists them")
  func amdEFR() {
    let v = values(AMDExtendedFeatures(raw: 0xa5bf_732f_a229_5afe))
    #expect(v["PPRSup"] == 1 && v["XTSup"] == 1 && v["NXSup"] == 1 && v["GTSup"] == 1)
    #expect(v["IASup"] == 1 && v["GASup"] == 1 && v["PCSup"] == 1 && v["PreFSup"] == 0 && v["HESup"] == 0)
  }
}
