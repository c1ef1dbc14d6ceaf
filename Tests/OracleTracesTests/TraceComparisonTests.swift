import Foundation
import IOMMUModelTesting
import MMIO
import Testing

@testable import OracleTraces

private func referenceTrace(_ device: OracleDevice) throws -> OracleTrace {
  let file =
    switch device {
    case .intelIOMMU: "intel-iommu.poweroff.trace"
    case .armSMMUv3: "arm-smmu-v3.probe-shutdown.trace"
    case .riscvIOMMU: "riscv-iommu.probe-shutdown.trace"
    }
  let text = try RepositoryPaths.text(RepositoryPaths.fixtures.appendingPathComponent("oracle-reference/\(file)"))
  return try QEMUTraceParser(device: device).parse(text)
}

/// The trace with its events edited, as a model that diverges would produce it.
private func edited(_ trace: OracleTrace, _ edit: (inout [TraceAccess]) -> Void) -> OracleTrace {
  var accesses = trace.accesses
  edit(&accesses)
  return OracleTrace(events: accesses.map { .access($0) })
}

private func canonical(_ lines: [String]) throws -> OracleTrace {
  try CanonicalTrace.parse(lines.joined(separator: "\n"), device: .armSMMUv3)
}

@Suite("Normalising allocated addresses")
struct AddressNormalisationTests {
  @Test("SMMUv3 STRTAB_BASE keeps RA and loses its address to a symbol")
  func smmuBase() {
    let n = AddressNormaliser(device: .armSMMUv3).normalise([
      TraceAccess(MMIOAccess(.write, .qword, offset: 0x80, value: 0x4000_0000_44b1_6000)),
      TraceAccess(MMIOAccess(.write, .qword, offset: 0x90, value: 0x4000_0000_7bd0_0010)),
      TraceAccess(MMIOAccess(.write, .qword, offset: 0x80, value: 0x4000_0000_5000_0000)),
      TraceAccess(MMIOAccess(.write, .qword, offset: 0x80, value: 0x4000_0000_44b1_6000)),
    ])
    #expect(
      n.map(\.description) == [
        "W64 0x0080 0x4000000000000000+{STRTAB_BASE.1}", "W64 0x0090 0x4000000000000010+{CMDQ_BASE.1}",
        "W64 0x0080 0x4000000000000000+{STRTAB_BASE.2}", "W64 0x0080 0x4000000000000000+{STRTAB_BASE.1}",
      ])
  }

  @Test("RISC-V: a zero PPN stays zero; the LOG2SZ and mode bits are kept; 32-bit halves have their own symbols")
  func riscvZeroAndHalves() {
    let n = AddressNormaliser(device: .riscvIOMMU).normalise([
      TraceAccess(MMIOAccess(.write, .qword, offset: 0x18, value: 0x1f)),
      TraceAccess(MMIOAccess(.write, .qword, offset: 0x18, value: 0x20ee_000c)),
      TraceAccess(MMIOAccess(.write, .dword, offset: 0x10, value: 0x2000_0404)),
      TraceAccess(MMIOAccess(.write, .dword, offset: 0x14, value: 0x1)),
    ])
    #expect(
      n.map(\.description) == [
        "W64 0x0018 0x000000000000001f", "W64 0x0018 0x000000000000000c+{CQB.1}",
        "W32 0x0010 0x00000004+{DDTP.lo.1}", "W32 0x0014 0x00000000+{DDTP.hi.1}",
      ])
  }

  @Test("a VT-d read without a value matches a read of any value, not a write")
  func unknownValue() {
    let unknown = NormalisedAccess(kind: .read, width: .dword, offset: 0x1c, value: nil, symbol: nil)
    #expect(unknown.matches(NormalisedAccess(kind: .read, width: .dword, offset: 0x1c, value: 0xc700_0000)))
    #expect(!unknown.matches(NormalisedAccess(kind: .write, width: .dword, offset: 0x1c, value: 0)))
    #expect(!unknown.matches(NormalisedAccess(kind: .read, width: .qword, offset: 0x1c, value: 0)))
  }
}

@Suite("Comparing a real trace with a model's")
struct TraceComparisonTests {
  @Test("each reference trace matches itself, and a copy whose allocations all moved", arguments: OracleDevice.allCases)
  func identicalUpToAllocation(device: OracleDevice) throws {
    let real = try referenceTrace(device)
    let moved = edited(real) { accesses in
      for i in accesses.indices {
        let a = accesses[i].access
        let isAddress = AddressField.fields(of: device).contains { $0.mask(for: a.width, at: a.offset) != nil }
        if isAddress && a.value & 0xffff_f000 != 0 { accesses[i].access.value = a.value &+ 0x10_0000 }
      }
    }
    #expect(moved != real)
    let comparison = TraceComparison(real: real, model: moved, device: device)
    #expect(comparison.allMatch)
    #expect(comparison.report == "match: \(real.accesses.count)/\(real.accesses.count)")
  }

  @Test("a changed control value is the first divergence, reported with context; the count is exact")
  func changedValue() throws {
    let real = try referenceTrace(.armSMMUv3)
    // Access #9 is CR1 := 0xd75; the model writes 0xd71.
    let model = edited(real) { $0[8].access.value = 0xd71 }
    let c = TraceComparison(real: real, model: model, device: .armSMMUv3)
    #expect(c.matched == 53)
    #expect(!c.allMatch)
    let d = try #require(c.firstDivergence())
    #expect(d.realIndex == 8 && d.modelIndex == 8)
    #expect(
      d.context == [
        "  = real #6 model #6  R32 0x0020 0x00000000", "  = real #7 model #7  W32 0x0020 0x00000000",
        "  = real #8 model #8  R32 0x0024 0x00000000", "  - real #9 only       W32 0x0028 0x00000d75",
        "  + model #9 only      W32 0x0028 0x00000d71", "  = real #10 model #10  W32 0x002c 0x00000006",
        "  = real #11 model #11  W64 0x0080 0x4000000000000000+{STRTAB_BASE.1}",
      ])
    let lines = c.report.split(separator: "\n")
    #expect(lines.first == "first divergence at real access #9 of 54 (boot 1), model access #9 of 54 (boot 1):")
    #expect(lines.last == "match: 53/54")
  }

  @Test("a missing shutdown write: the model lacks the last CR0 := 0")
  func missingShutdown() throws {
    let real = try referenceTrace(.armSMMUv3)
    let model = edited(real) { $0.remove(at: 52) }
    let c = TraceComparison(real: real, model: model, device: .armSMMUv3)
    #expect(c.matched == 53)
    let d = try #require(c.firstDivergence())
    #expect(d.realIndex == 52)
    #expect(d.context.contains("  - real #53 only       W32 0x0020 0x00000000"))
    #expect(c.report.hasSuffix("\nmatch: 53/54"))
  }

  @Test("a model that skips the first kernel's shutdown before kexec diverges there, in boot 1")
  func kexecWithoutShutdown() throws {
    let text = try RepositoryPaths.text(
      RepositoryPaths.fixtures.appendingPathComponent("qemu-captures/riscv-iommu/kexec.trace"))
    let real = try QEMUTraceParser(device: .riscvIOMMU).parse(text)
    // Drop the last four accesses before "## boot 2": DDTP := BARE and the queue CSRs := 0.
    var events = real.events
    let second = try #require(events.firstIndex(of: .bootStart(2)))
    let shutdown = events[..<second].indices.filter { if case .access = events[$0] { true } else { false } }.suffix(4)
    for i in shutdown.reversed() { events.remove(at: i) }
    let c = TraceComparison(real: real, model: OracleTrace(events: events), device: .riscvIOMMU)
    let count = real.accesses.count
    #expect(c.matched == count - 4)
    let lines = c.report.split(separator: "\n")
    #expect(
      lines.first?.hasPrefix(
        "first divergence at real access #\(real.accesses(ofBoot: 1).count - 3) of \(count) (boot 1)") == true)
    #expect(lines.contains("  - real #\(real.accesses(ofBoot: 1).count - 3) only       W64 0x0010 0x0000000000000001"))
    #expect(lines.last == "match: \(count - 4)/\(count)")
  }

  @Test("extra model accesses leave every real access matched but the comparison fails")
  func extraModelAccess() throws {
    let real = try canonical(["R32 0x0000 0x0d44101b", "W32 0x0020 0x00000000"])
    let model = try canonical(["R32 0x0000 0x0d44101b", "R32 0x0024 0x00000000", "W32 0x0020 0x00000000"])
    let c = TraceComparison(real: real, model: model, device: .armSMMUv3)
    #expect(c.matched == 2)
    #expect(!c.allMatch)
    #expect(
      c.report == """
        first divergence at real access #2 of 2 (boot 1), model access #2 of 3 (boot 1):
          = real #1 model #1  R32 0x0000 0x0d44101b
          + model #2 only      R32 0x0024 0x00000000
          = real #2 model #3  W32 0x0020 0x00000000
        the model has 1 access(es) the real trace lacks
        match: 2/2
        """)
  }

  @Test("an allocation reused where the real driver allocated anew is a divergence")
  func symbolOrder() throws {
    let real = try canonical(["W64 0x0080 0x0000000044b16000", "W64 0x0080 0x0000000045000000"])
    let model = try canonical(["W64 0x0080 0x0000000012340000", "W64 0x0080 0x0000000012340000"])
    #expect(TraceComparison(real: real, model: model, device: .armSMMUv3).matched == 1)
  }

  @Test("within one boot, an allocation reused where the real driver allocated anew is still a divergence")
  func symbolOrderWithinBoot() throws {
    let real = try canonical(["## boot 1", "W64 0x0080 0x0000000044b16000", "W64 0x0080 0x0000000045000000"])
    let model = try canonical(["## boot 1", "W64 0x0080 0x0000000012340000", "W64 0x0080 0x0000000012340000"])
    #expect(TraceComparison(real: real, model: model, device: .armSMMUv3).matched == 1)
  }

  @Test("the next kernel's root table at the old kernel's address or elsewhere: both match (numbered per boot)")
  func addressesNumberedPerBoot() throws {
    let text = try RepositoryPaths.text(
      RepositoryPaths.fixtures.appendingPathComponent("qemu-captures/intel-iommu/kexec.trace"))
    let real = try QEMUTraceParser(device: .intelIOMMU).parse(text)
    // Given: the committed capture, whose second kernel got the first kernel's root table page.
    let rtaddr = real.events.indices.filter {
      if case .access(let a) = real.events[$0] { a.access.kind == .write && a.access.offset == 0x20 } else { false }
    }
    try #require(rtaddr.count == 2)
    guard case .access(var second) = real.events[rtaddr[1]] else { return }
    guard case .access(let first) = real.events[rtaddr[0]] else { return }
    #expect(second.access.value == first.access.value)
    // When: a run where the allocator handed the second kernel another page (seen in CI).
    var events = real.events
    second.access.value = 0x0367_d000
    events[rtaddr[1]] = .access(second)
    let c = TraceComparison(real: real, model: OracleTrace(events: events), device: .intelIOMMU)
    // Then: it is the same driver behaviour.
    #expect(c.allMatch, "\(c.report)")
  }

  @Test("an empty model matches nothing: match 0/M")
  func emptyModel() throws {
    let real = try referenceTrace(.riscvIOMMU)
    let c = TraceComparison(real: real, model: OracleTrace(events: []), device: .riscvIOMMU)
    #expect(c.report.hasSuffix("match: 0/41"))
    #expect(c.firstDivergence()?.realIndex == 0)
  }
}

@Suite("Model trace registry")
struct ModelTraceRegistryTests {
  @Test("a provider is found by device and scenario, and only for its scenarios")
  func lookup() throws {
    let registry = ModelTraceRegistry([
      ModelTraceProvider(device: .riscvIOMMU, scenarios: [.probeShutdown]) { _ in "R64 0x0000 0x0000000000000010\n" }
    ])
    let provider = try #require(registry.provider(for: .riscvIOMMU, scenario: .probeShutdown))
    #expect(try provider.trace(.probeShutdown) == "R64 0x0000 0x0000000000000010\n")
    #expect(registry.provider(for: .riscvIOMMU, scenario: .kdump) == nil)
    #expect(registry.provider(for: .armSMMUv3, scenario: .probeShutdown) == nil)
  }
}
