import IOMMUModelTesting
import Testing

private let dev = "arm-smmu-v3 9050000.smmuv3: "

/// Probes a board whose SMMU advertises `configure`d ID registers.
private func probe(_ configure: (inout SMMUv3Configuration) -> Void) -> ARMSMMUv3Board {
  var configuration = SMMUv3Configuration.qemu10
  configure(&configuration)
  let board = ARMSMMUv3Board(configuration: configuration)
  board.probe()
  return board
}

@Suite("arm_smmu_device_hw_probe: ID register combinations")
struct HardwareProbeTests {
  @Test(
    "unsupported IDR0 values fail with -ENXIO after reading IDR0 only",
    arguments: [
      (0x0D64_101B as UInt32, "unknown/unsupported TT endianness!"),
      (0x0D44_1018, "no translation support!"),
      (0x0D44_1017, "AArch64 table format not supported!"),
    ])
  func idr0Refused(idr0: UInt32, message: String) {
    let board = probe { $0.idr0 = idr0 }
    #expect(board.smmuDevice.state == .probeFailed(.ENXIO))
    #expect(board.kernel.log.lines == [dev + message])
    #expect(board.recorder.lines == ["R32 0x0000 \(hex(idr0, digits: 8))"])
  }

  @Test(
    "embedded implementations (TABLES_PRESET, QUEUES_PRESET, REL) fail with -ENXIO after IDR1",
    arguments: [30, 29, 28])
  func embedded(bit: Int) {
    let idr1 = UInt32(0x0273_0010) | 1 << bit
    let board = probe { $0.idr1 = idr1 }
    #expect(board.smmuDevice.state == .probeFailed(.ENXIO))
    #expect(board.kernel.log.lines == [dev + "embedded implementation not supported"])
    #expect(board.recorder.lines == ["R32 0x0000 0x0d44101b", "R32 0x0004 \(hex(idr1, digits: 8))"])
  }

  @Test("a command queue of 64 entries or fewer fails with -ENXIO")
  func smallCommandQueue() {
    let board = probe { $0.idr1 = 0x00D3_0010 }  // CMDQS = 6
    #expect(board.smmuDevice.state == .probeFailed(.ENXIO))
    #expect(board.kernel.log.lines == [dev + "command queue size <= 64 entries not supported"])
  }

  @Test("IDR0.COHACC clear against a dma-coherent firmware node only warns")
  func coherencyMismatch() {
    let board = probe { $0.idr0 = 0x0D44_100B }
    #expect(board.smmuDevice.isBound)
    #expect(board.kernel.log.lines.first == dev + "IDR0.COHACC overridden by FW configuration (true)")
  }

  @Test("SIDSIZE of 8 bits or fewer gives a linear stream table")
  func linearStreamTable() {
    let board = probe { $0.idr1 = 0x0273_0008 }
    #expect(board.smmuDevice.isBound)
    #expect(board.recorder.lines[11] == "W32 0x0088 0x00000008")
    #expect(board.smmuState?.features.contains(.twoLevelStrtab) == false)
    // The host bridge's stream 0 has a live CD-table STE in the linear table.
    #expect(
      board.smmu.route(streamID: 0, address: 0x1000, isWrite: false)
        == .blocked(reason: "F_TRANSLATION sid 0x0 addr 0x1000"))
  }

  @Test("an unknown OAS is truncated to 48 bits")
  func unknownOAS() {
    let board = probe { $0.idr5 = 0x77 }
    #expect(
      board.kernel.log.lines.prefix(2) == [
        dev + "unknown output address size. Truncating to 48-bit", dev + "oas 48-bit (features 0x01088705)",
      ])
  }

  @Test("PRI and ATS add the PRI queue, PRIQEN, ATSCHK and the PRIQ interrupt")
  func priAndATS() {
    let board = probe {
      $0.idr0 |= 1 << 16 | 1 << 10
      $0.idr1 |= 19 << 11
    }
    #expect(board.smmuDevice.isBound)
    #expect(board.kernel.log.lines.contains(dev + "allocated 65536 entries for priq"))
    let cr0 = board.recorder.trace.accesses.filter { $0.kind == .write && $0.offset == 0x20 }.map(\.value)
    #expect(cr0 == [0x0, 0x8, 0xc, 0xe, 0x1e, 0x1f])
    let lines = board.recorder.lines
    #expect(lines.contains("W32 0x100c8 0x00000000") && lines.contains("W32 0x100cc 0x00000000"))
    #expect(lines.contains("W64 0x00d0 0x0000000000000000"))
    #expect(lines.contains("W32 0x0050 0x00000007"))
  }

  @Test("MSI with a coherent SMMU polls CMD_SYNC completion in memory, not CMDQ_CONS")
  func msiPolling() {
    let board = probe { $0.idr0 |= 1 << 13 }
    #expect(board.smmuDevice.isBound)
    #expect(board.smmuState?.options.contains(.msiPoll) == true)
    #expect(board.kernel.log.lines.contains(dev + "msi_domain absent - falling back to wired irqs"))
    let lines = board.recorder.lines
    let first = lines.firstIndex(of: "CMD CFGI_STE_RANGE")!
    #expect(
      Array(lines[first..<(first + 6)]) == [
        "CMD CFGI_STE_RANGE", "CMD SYNC", "W32 0x0098 0x00000002", "CMD TLBI_NSNH_ALL", "CMD SYNC",
        "W32 0x0098 0x00000004",
      ])
    #expect(!lines.contains { $0.hasPrefix("R32 0x009c") })
  }

  @Test("a missing #iommu-cells property fails with -EINVAL before any access")
  func missingIOMMUCells() {
    let board = ARMSMMUv3Board()
    board.smmuDevice.properties["#iommu-cells"] = nil
    #expect(board.probe() == .EINVAL)
    #expect(board.kernel.log.lines.first == dev + "missing #iommu-cells property")
    #expect(board.recorder.lines.isEmpty)
  }
}
