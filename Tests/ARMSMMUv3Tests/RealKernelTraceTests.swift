import IOMMUModelTesting
import Testing

@Suite("arm-smmu-v3 against the real Linux 7.2 trace")
struct RealKernelTraceTests {
  @Test("probe + shutdown on QEMU 10's virt SMMUv3 makes the real kernel's accesses and commands")
  func probeShutdownMatchesReference() throws {
    let board = ARMSMMUv3Board()
    #expect(board.probe() == nil)
    board.shutdown()
    let expected = normalisedSMMUv3Trace(try referenceTrace())
    let actual = normalisedSMMUv3Trace(board.recorder.lines)
    #expect(expected.count == 76)
    #expect(actual == expected)
    if actual != expected {
      for (i, (a, e)) in zip(actual, expected).enumerated() where a != e {
        Issue.record("first difference at line \(i + 1): model \(a), kernel \(e)")
        break
      }
    }
  }

  @Test("the probe logs what the real kernel logged")
  func probeLog() {
    let board = ARMSMMUv3Board()
    board.probe()
    #expect(
      board.kernel.log.lines == [
        "arm-smmu-v3 9050000.smmuv3: oas 44-bit (features 0x01088705)",
        "arm-smmu-v3 9050000.smmuv3: allocated 65536 entries for cmdq",
        "arm-smmu-v3 9050000.smmuv3: allocated 32768 entries for evtq",
        "pci 0000:00:00.0: Adding to iommu group 0",
        "pci 0000:00:01.0: Adding to iommu group 1",
      ])
    #expect(board.smmuState?.sysfsName == "smmu3.0x0000000009050000")
  }
}
