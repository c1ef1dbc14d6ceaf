import Foundation
import IOMMUModelTesting
import MMIO
import Testing

@testable import OracleTraces

private func reference(_ name: String) throws -> String {
  try RepositoryPaths.text(RepositoryPaths.fixtures.appendingPathComponent("oracle-reference/\(name)"))
}

private func lines(_ trace: OracleTrace) -> [String] { trace.accesses.map(\.description) }

@Suite("QEMU trace parsers on the Linux 7.2 reference captures")
struct QEMUTraceParserTests {
  @Test("VT-d: vtd_reg_read has no value, vtd_reg_write does; vtd_inv_desc* and other vtd_reg_* are annotations")
  func intel() throws {
    let trace = try QEMUTraceParser(device: .intelIOMMU).parse(reference("intel-iommu.poweroff.trace"))
    #expect(trace.accesses.count == 53)
    #expect(trace.accesses.filter { !$0.valueKnown }.count == 18)
    #expect(Array(lines(trace).prefix(3)) == ["R64 0x0008 ?", "R64 0x0010 ?", "R64 0x0008 ?"])
    #expect(lines(trace).contains("W64 0x0090 0x0000000001223000"))
    // intel_iommu_shutdown(): GCMD := QIE | IRE (TE cleared), then GSTS polled.
    #expect(Array(lines(trace).suffix(3)) == ["R32 0x0000 ?", "W32 0x0018 0x06000000", "R32 0x001c ?"])
    let notes = trace.events.compactMap { if case .annotation(let s) = $0 { s } else { nil } }
    #expect(notes.count == 81)
    #expect(notes.first == "vtd_reg_write_gcmd status 0x0 value 0x4000000")
    #expect(trace.bootCount == 1)
  }

  @Test("SMMUv3: smmuv3_read/write_mmio become accesses, smmuv3_cmdq_opcode annotations")
  func smmuv3() throws {
    let trace = try QEMUTraceParser(device: .armSMMUv3).parse(reference("arm-smmu-v3.probe-shutdown.trace"))
    #expect(trace.accesses.count == 54)
    #expect(lines(trace).first == "R32 0x0000 0x0d44101b")
    #expect(lines(trace).contains("W64 0x0080 0x4000000044b16000"))
    #expect(Array(lines(trace).suffix(2)) == ["W32 0x0020 0x00000000", "R32 0x0024 0x00000000"])
    let notes = trace.events.compactMap { if case .annotation(let s) = $0 { s } else { nil } }
    #expect(notes.count == 22)
    #expect(notes.last == "smmuv3_cmdq_opcode <--- SMMU_CMD_PREFETCH_CONFIG")
    #expect(trace.bootCount == 1)
  }

  @Test("RISC-V: memory_region_ops_* of riscv-iommu-regs, addresses minus BAR0; shutdown is DDTP := BARE, queues off")
  func riscv() throws {
    let trace = try QEMUTraceParser(device: .riscvIOMMU).parse(reference("riscv-iommu.probe-shutdown.trace"))
    #expect(trace.accesses.count == 41)
    #expect(lines(trace).first == "R64 0x0000 0x00000078c2cf0f10")
    #expect(
      Array(lines(trace).suffix(4)) == [
        "W64 0x0010 0x0000000000000001", "W32 0x0048 0x00000000", "W32 0x004c 0x00000000", "W32 0x0050 0x00000000",
      ])
    #expect(trace.bootCount == 1)
    if case .annotation(let first) = trace.events.first {
      #expect(first.hasPrefix("riscv_iommu_new"))
    } else {
      Issue.record("the trace should open with the riscv_iommu_new annotation")
    }
  }

  @Test("memory_region_ops_* of other regions are skipped; a given BAR0 is honoured")
  func riscvOtherRegions() throws {
    let text = """
      memory_region_ops_write cpu 0 mr 0x1 addr 0x10000000 value 0x41 size 1 name 'serial'
      memory_region_ops_read cpu 0 mr 0x2 addr 0x40001000 value 0x10 size 8 name 'riscv-iommu-regs'
      memory_region_ops_write cpu 0 mr 0x2 addr 0x40001048 value 0x3 size 4 name 'riscv-iommu-regs'
      """
    let trace = try QEMUTraceParser(device: .riscvIOMMU, riscvBAR0: 0x4000_1000).parse(text)
    #expect(lines(trace) == ["R64 0x0000 0x0000000000000010", "W32 0x0048 0x00000003"])
  }

  @Test("the pid@seconds: prefix of -msg timestamp=on is dropped")
  func timestampPrefix() throws {
    let text = "12345@1700000000.123456:smmuv3_write_mmio addr: 0x20 val:0xc size: 0x4(0)\n"
    let trace = try QEMUTraceParser(device: .armSMMUv3).parse(text)
    #expect(lines(trace) == ["W32 0x0020 0x0000000c"])
  }

  @Test("a known event that cannot be read is an error naming its line")
  func malformed() {
    let text = "vtd_reg_read addr 0x8 size 0x8\nvtd_reg_write addr 0x18 size 0x4\n"
    #expect(
      throws: TraceParseError(line: 2, text: "vtd_reg_write addr 0x18 size 0x4", reason: "vtd_reg_write without value")
    ) {
      try QEMUTraceParser(device: .intelIOMMU).parse(text)
    }
  }

  @Test("two probes in one trace (kexec, kdump) are two boots")
  func twoBoots() throws {
    for (device, file) in [
      (OracleDevice.intelIOMMU, "intel-iommu.poweroff.trace"), (.armSMMUv3, "arm-smmu-v3.probe-shutdown.trace"),
      (.riscvIOMMU, "riscv-iommu.probe-shutdown.trace"),
    ] {
      let once = try reference(file)
      let trace = try QEMUTraceParser(device: device).parse(once + once)
      #expect(trace.bootCount == 2, "\(device)")
      #expect(trace.accesses(ofBoot: 1) == trace.accesses(ofBoot: 2), "\(device)")
    }
  }

  @Test("the canonical text reads back to the same trace")
  func canonicalRoundTrip() throws {
    for (device, file) in [
      (OracleDevice.intelIOMMU, "intel-iommu.poweroff.trace"), (.armSMMUv3, "arm-smmu-v3.probe-shutdown.trace"),
      (.riscvIOMMU, "riscv-iommu.probe-shutdown.trace"),
    ] {
      let trace = try QEMUTraceParser(device: device).parse(reference(file))
      #expect(try CanonicalTrace.parse(trace.description, device: device) == trace)
    }
  }
}
