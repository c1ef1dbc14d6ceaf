import Foundation
import IOMMUModelTesting
import OracleTraces
import Testing

@Suite("Real Linux 7.2 trace: riscv-iommu-pci probe and shutdown on QEMU 10")
struct RealKernelTraceTests {
  static let referenceURL = RepositoryPaths.shared
    .appendingPathComponent("reference/linux-7.2-traces/riscv-iommu.probe-shutdown.trace")

  static func reference() throws -> OracleTrace {
    try QEMUTraceParser(device: .riscvIOMMU).parse(RepositoryPaths.text(referenceURL))
  }

  @Test("the model's probe followed by shutdown makes the real driver's register accesses")
  func probeShutdownMatchesReference() throws {
    let real = try Self.reference().accesses.map(\.access)
    #expect(real.count == 41)
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    #expect(bed.probeResult == nil)
    bed.shutdown()
    let model = bed.trace.accesses
    let n = RISCVIOMMUTestbed.traceNormalizer
    let difference = n.firstDifference(model, real)
    #expect(
      difference == nil,
      "first difference at \(difference?.index ?? -1): model \(difference?.a ?? "-"), real \(difference?.b ?? "-")")
    #expect(n.normalizedLines(model) == n.normalizedLines(real))
  }

  @Test("the hardware model consumes the commands QEMU traced, in order")
  func commandsMatchReference() throws {
    let prefix = "riscv_iommu_cmd "
    let real = try Self.reference().events.compactMap { event -> String? in
      guard case .annotation(let line) = event, line.hasPrefix(prefix) else { return nil }
      return String(line.dropFirst(prefix.count).drop { $0 != " " }.dropFirst())
    }
    #expect(real.count == 6)
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    #expect(bed.hardware.processedCommands.map(\.description) == real)
    #expect(
      bed.hardware.processedCommands.map(\.name) == [
        "IODIR.INVAL_DDT", "IOTINVAL.VMA", "IOFENCE.C", "IODIR.INVAL_DDT", "IOTINVAL.VMA", "IOFENCE.C",
      ])
  }

  @Test("the console lines of the reference boot appear in the model's log")
  func consoleLines() throws {
    let bed = RISCVIOMMUTestbed()
    bed.boot()
    #expect(bed.log.contains("iommu_pci 0000:00:01.0: enabling device (0000 -> 0002)"))
    #expect(bed.log.contains("pci 0000:00:00.0: Adding to iommu group 0"))
    #expect(bed.iommu?.attached.map(\.domain) == [.identity])
  }

  @Test("the normaliser renumbers allocated PPNs but keeps control bits and distinct addresses")
  func normaliserKeepsControlBits() {
    let n = RISCVIOMMUTestbed.traceNormalizer
    let a = [
      MMIOAccess(.write, .qword, offset: 0x18, value: 0x20ee_000c),
      MMIOAccess(.read, .qword, offset: 0x18, value: 0x20ee_000c),
      MMIOAccess(.write, .qword, offset: 0x28, value: 0x20ee_800b),
    ]
    let b = [
      MMIOAccess(.write, .qword, offset: 0x18, value: 0x2100_000c),
      MMIOAccess(.read, .qword, offset: 0x18, value: 0x2100_000c),
      MMIOAccess(.write, .qword, offset: 0x28, value: 0x2100_400b),
    ]
    #expect(n.normalize(a) == n.normalize(b))
    var c = b
    c[2].value = 0x2100_000b  // the FQ at the CQ's address: no longer the same shape.
    #expect(n.normalize(a) != n.normalize(c))
    var d = b
    d[0].value = 0x2100_000b  // a different LOG2SZ is a control value and must differ.
    #expect(n.normalize(a) != n.normalize(d))
  }
}
