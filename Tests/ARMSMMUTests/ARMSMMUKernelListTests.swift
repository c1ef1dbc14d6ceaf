import IOMMUModelTesting
import Testing

/// An old kernel under the kernel-list variant with master dma0 (stream 0x10) in a paging
/// domain on context bank 0, IOVA 0x1000 mapped to 0x88000000.
private func oldKernel(_ variant: ARMSMMUVariant = .kernelList) throws -> SMMUFixture {
  let old = SMMUFixture(variant: variant)
  #expect(old.probe() == nil)
  let m = old.master("dma0", streamIDs: [0x10])
  try old.driver.probeDevice(m)
  let domain = try old.driver.attachPaging(m)
  try domain.pageTable.map(iova: 0x1000, paddr: 0x8800_0000, size: 0x1000)
  #expect(old.hw.route(streamID: 0x10, address: 0x1234, isWrite: true) == .translated(physical: 0x8800_0234))
  return old
}

/// Writes to sCR0 that set CLIENTPD (global bypass).
private func clientPortDisables(_ trace: [String]) -> [String] {
  trace.filter { $0.hasPrefix("W32 0x0000 ") && (UInt32($0.suffix(8), radix: 16) ?? 0) & 1 != 0 }
}

/// The S2CR writes of the switch: TYPE = FAULT for each of the MMU-500's 16 stream map entries.
private let faultEveryEntry = (0..<16).map { line("W", 0xc00 + 4 * $0, 0x0002_0000) }

@Suite("kernel-list: client port kept enabled, every stream faulted before anything else")
struct ARMSMMUKernelListTests {
  @Test("on an SMMU nobody enabled (CLIENTPD set), kernel-list reads sCR0 once more, then probes exactly as Linux 7.2")
  func freshProbeIsTheKernels() {
    let list = SMMUFixture(variant: .kernelList)
    #expect(list.probe() == nil)
    let kernel = SMMUFixture()
    #expect(kernel.probe() == nil)
    #expect(list.trace[3] == line("R", 0x0, 0x1))
    #expect(Array(list.trace[..<3] + list.trace[4...]) == kernel.trace)
    #expect(list.log == kernel.log)
  }

  @Test("shutdown: sCR0 |= USFCFG, the S2CR in use TYPE = FAULT; SMR, context bank and client port kept")
  func shutdown() throws {
    let f = try oldKernel()
    f.traced.trace.removeAll()
    f.kernel.log.removeAll()
    f.driver.shutdown(f.device)
    #expect(f.log == [p + "kernel-list: faulting every stream, leaving the client port enabled"])
    #expect(
      f.trace == [line("R", 0x0, 0x8000_1c36), line("W", 0x0, 0x8000_1c36), line("W", 0xc00, 0x0002_0000)])
    #expect(
      f.hw.route(streamID: 0x10, address: 0x1234, isWrite: true)
        == .blocked(reason: "stream 0x10 aborted by S2CR0 (TYPE=FAULT)"))
    #expect(f.hw.route(streamID: 0x77, address: 0x1234, isWrite: true).isBlocked)
    // The configuration stays: SMR0 valid for 0x10, context bank 0 translating.
    #expect(f.hw.registers.peek(.dword, at: 0x800) == 0x8000_0010)
    #expect(f.hw.registers.peek(.dword, at: 0x10000) & 1 == 1)
  }

  @Test(
    "a crash kernel finding the client port enabled: USFCFG, then every S2CR FAULT, no CLIENTPD; the old stream translates only until its entry is written"
  )
  func crashKernelSwitch() throws {
    let old = try oldKernel()
    let crash = SMMUFixture(hw: old.hw, memory: old.memory, kdump: true, variant: .kernelList)
    var atSCR0: [DMARoute] = []
    var atS2CR0: [DMARoute] = []
    crash.hw.registers.onWrite(at: 0x0) { _, _ in
      atSCR0.append(crash.hw.route(streamID: 0x10, address: 0x1234, isWrite: true))
    }
    crash.hw.registers.onWrite(at: 0xc00) { _, _ in
      atS2CR0.append(crash.hw.route(streamID: 0x10, address: 0x1234, isWrite: true))
    }
    #expect(crash.probe() == nil)
    #expect(crash.log.contains(p + "kernel-list: translation left on by the previous kernel, faulting every stream"))
    #expect(Array(crash.trace[3...4]) == [line("R", 0x0, 0x8000_1c36), line("W", 0x0, 0x8000_1c36)])
    #expect(Array(crash.trace[5..<21]) == faultEveryEntry)
    // The RMR step writes nothing; the reset starts by clearing sGFSR.
    #expect(crash.trace[21] == line("R", 0x48, 0))
    #expect(clientPortDisables(crash.trace).isEmpty)
    // Exposure: at the USFCFG write stream 0x10 still translates through the old bank; from
    // its S2CR write on it faults, and nothing ever bypasses.
    #expect(atSCR0.first == .translated(physical: 0x8800_0234))
    #expect(atS2CR0.allSatisfy { $0.isBlocked } && atS2CR0.count == 2)
    #expect(atSCR0.dropFirst().allSatisfy { $0.isBlocked })
    #expect(crash.hw.route(streamID: 0x10, address: 0x1234, isWrite: true).isBlocked)
    #expect(crash.hw.route(streamID: 0x77, address: 0x1234, isWrite: true).isBlocked)
  }

  @Test(
    "across kexec the old kernel already faulted every stream: no sCR0 write of the next probe finds one translating")
  func kexecSwitch() throws {
    let old = try oldKernel()
    old.kernel.context.kexecInProgress = true
    old.core.deviceShutdown()
    let next = SMMUFixture(hw: old.hw, memory: old.memory, variant: .kernelList)
    var routes: [DMARoute] = []
    next.hw.registers.onWrite(at: 0x0) { _, _ in
      routes.append(next.hw.route(streamID: 0x10, address: 0x1234, isWrite: true))
    }
    #expect(next.probe() == nil)
    #expect(Array(next.trace[5..<21]) == faultEveryEntry)
    #expect(clientPortDisables(next.trace).isEmpty)
    #expect(routes.count == 2 && routes.allSatisfy { $0.isBlocked })
  }

  @Test("with disable_bypass=0 the switched kernel still faults unattached streams instead of bypassing them")
  func disableBypassForced() throws {
    let old = try oldKernel()
    let crash = SMMUFixture(
      hw: old.hw, memory: old.memory, kdump: true, parameters: ["arm_smmu.disable_bypass": "0"],
      variant: .kernelList)
    #expect(crash.probe() == nil)
    #expect(crash.log.contains(p + "kernel-list: ignoring disable_bypass=0, unattached streams fault"))
    #expect(crash.hw.route(streamID: 0x10, address: 0x8800_0000, isWrite: true).isBlocked)
    #expect(crash.hw.route(streamID: 0x77, address: 0x8800_0000, isWrite: true).isBlocked)
  }

  @Test("the Linux 7.2 crash kernel on the same state opens the RMR bypass window the switch avoids")
  func kernelOpensWindow() throws {
    let old = try oldKernel(.kernel)
    let crash = SMMUFixture(hw: old.hw, memory: old.memory, kdump: true)
    #expect(crash.probe() == nil)
    #expect(clientPortDisables(crash.trace) == [line("W", 0x0, 0x8000_1c37)])
  }
}
