import ArgumentParser
import IOMMUModel

/// Options shared by `check arm-smmu` and `trace arm-smmu`.
struct ARMSMMUOptions: ParsableArguments {
  @Flag(
    help:
      "Probe in a kdump kernel, on an SMMU a crashed kernel left live (stream 0x10 translating through context bank 0)."
  )
  var kdump = false

  @Flag(help: "Probe in the kernel started by a normal kexec: the old kernel's shutdown (per --variant) ran first.")
  var kexec = false

  @Option(help: "Shutdown policy: \(ARMSMMUVariant.allCases.map(\.rawValue).joined(separator: ", ")).")
  var variant: String = ARMSMMUVariant.kernel.rawValue

  @Option(
    name: .customLong("set"),
    help: "REGISTER=VALUE poked into the hardware model before the probe (sCR0, ID0, S2CR3, CB0_SCTLR, 0x24, ...).")
  var assignments: [String] = []

  @Option(
    name: .customLong("module-param"),
    help: "arm-smmu module parameter NAME=VALUE (disable_bypass=0, force_stage=2).")
  var moduleParameters: [String] = []

  func parsedVariant() throws -> ARMSMMUVariant {
    guard let v = ARMSMMUVariant(rawValue: variant) else {
      throw ValidationError(
        "unknown variant '\(variant)'; known: \(ARMSMMUVariant.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return v
  }

  func parsedParameters() throws -> [String: String] {
    var out: [String: String] = [:]
    for p in moduleParameters {
      guard let eq = p.firstIndex(of: "=") else {
        throw ValidationError("expected NAME=VALUE, got '\(p)'")
      }
      var name = String(p[..<eq])
      if name.hasPrefix("arm-smmu.") || name.hasPrefix("arm_smmu.") { name = String(name.dropFirst(9)) }
      out["arm_smmu.\(name)"] = String(p[p.index(after: eq)...])
    }
    return out
  }

  /// Pokes every --set into `registers`, matching register names without regard to case.
  func applyAssignments(to registers: SimulatedRegisterFile) throws {
    for text in assignments {
      var a = try RegisterAssignment(parsing: text)
      if let d = registers.definitions.first(where: { $0.name.uppercased() == a.register }) {
        a.register = d.name
      }
      do { try a.apply(to: registers) } catch { throw ValidationError(error.description) }
    }
  }
}

/// One SMMU, a kernel and the arm-smmu driver, as the CLI runs them.
final class ARMSMMUScenario {
  let memory: PhysicalMemory
  let hw: ARMSMMUv2
  let kernel: Kernel
  let core: DriverCore
  let driver: ARMSMMUDriver
  let device: Device
  let recorder: RecordingRegisterIO<SimulatedRegisterFile>

  init(
    hw: ARMSMMUv2? = nil, memory: PhysicalMemory? = nil, kdump: Bool, variant: ARMSMMUVariant,
    parameters: [String: String], pool: UInt64
  ) {
    let memory = memory ?? Self.makeMemory()
    self.memory = memory
    self.hw = hw ?? ARMSMMUv2(memory: memory)
    kernel = Kernel(
      name: kdump ? "crash kernel" : "kernel",
      context: KernelContext(isKdumpKernel: kdump, moduleParameters: parameters))
    core = DriverCore(
      kernel: kernel, memory: memory,
      dmaAllocator: DMAAllocator(memory: memory, base: pool, size: 0x10_0000, owner: .kernel(kernel.name)))
    driver = ARMSMMUDriver(variant: variant)
    recorder = RecordingRegisterIO(self.hw.registers)
    recorder.trace.isEnabled = false
    device = Device(
      name: "2b500000.iommu", bus: .platform,
      identity: .platform(compatible: ["arm,mmu-500"], acpiHID: nil),
      resources: [DeviceResource(name: "smmu", base: 0x2b50_0000, io: recorder)], irqCount: 9)
    device.properties = ["#global-interrupts": [1]]
    core.register(driver)
  }

  static func makeMemory() -> PhysicalMemory {
    let m = PhysicalMemory()
    m.addRAM(base: 0x8000_0000, size: 0x2000_0000)
    return m
  }

  /// Registers the SMMU device (which probes it); the probe's error, nil when bound.
  func probe() -> Errno? {
    core.register(device)
    if case .probeFailed(let e) = device.state { return e }
    return device.isBound ? nil : .EPROBE_DEFER
  }

  /// An earlier kernel that probed this SMMU and gave stream 0x10 a paging domain mapping
  /// IOVA 0x1000 to 0x88000000, then either crashed (kdump) or shut down (kexec).
  static func previousKernel(variant: ARMSMMUVariant, parameters: [String: String], shutDown: Bool)
    -> ARMSMMUScenario
  {
    let old = ARMSMMUScenario(
      kdump: false, variant: variant, parameters: parameters, pool: 0x8100_0000)
    _ = old.probe()
    let master = Device(
      name: "dma0", bus: .platform, identity: .platform(compatible: [], acpiHID: nil),
      iommu: old.device, streamIDs: [0x10])
    old.core.register(master)
    if (try? old.driver.probeDevice(master)) != nil,
      let domain = try? old.driver.attachPaging(master)
    {
      try? domain.pageTable.map(iova: 0x1000, paddr: 0x8800_0000, size: 0x1000)
    }
    if shutDown {
      old.kernel.context.kexecInProgress = true
      old.core.deviceShutdown()
    }
    return old
  }

  /// The SMMU for the kernel under test: fresh, left live by a crash, or handed over by kexec.
  static func make(_ o: ARMSMMUOptions) throws -> ARMSMMUScenario {
    let variant = try o.parsedVariant()
    let parameters = try o.parsedParameters()
    guard !(o.kdump && o.kexec) else { throw ValidationError("--kdump and --kexec exclude each other") }
    let s: ARMSMMUScenario
    if o.kdump || o.kexec {
      let old = previousKernel(variant: variant, parameters: parameters, shutDown: o.kexec)
      s = ARMSMMUScenario(
        hw: old.hw, memory: old.memory, kdump: o.kdump, variant: variant, parameters: parameters,
        pool: 0x9000_0000)
    } else {
      s = ARMSMMUScenario(kdump: false, variant: variant, parameters: parameters, pool: 0x8100_0000)
    }
    try o.applyAssignments(to: s.hw.registers)
    s.recorder.trace.isEnabled = true
    return s
  }
}

/// `iommu-model check arm-smmu`: arm_smmu_device_probe() on the MMU-500 model.
struct CheckARMSMMU: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "arm-smmu",
    abstract: "Run arm_smmu_device_probe() on the MMU-500 model and print errno, log and trace.")

  @OptionGroup var options: ARMSMMUOptions
  @OptionGroup var output: OutputOptions

  func run() throws {
    let s = try ARMSMMUScenario.make(options)
    // What the old kernel's stream 0x10 (IOVA 0x1000) meets before the probe, at each write of
    // sCR0 during it, and after it. Looking must not leave a fault latched for the probe.
    func look() -> DMARoute {
      let saved = [0x48, 0x50, 0x54, 0x58].map { ($0, s.hw.registers.peek(.dword, at: $0)) }
      defer { for (offset, value) in saved { s.hw.registers.poke(value, .dword, at: offset) } }
      return s.hw.route(streamID: 0x10, address: 0x1000, isWrite: true)
    }
    let before = look()
    var during: [(UInt64, DMARoute)] = []
    s.hw.registers.onWrite(at: 0x0) { _, event in during.append((event.newValue, look())) }
    let error = s.probe()
    let after = look()
    print(
      CheckReport(error: error, log: s.kernel.log.lines, trace: s.recorder.trace.lines)
        .render(json: output.json))
    if !output.json && (options.kdump || options.kexec) {
      print("dma (stream 0x10, IOVA 0x1000, write):")
      print("  before probe: \(before)")
      for (value, route) in during { print("  sCR0 := \(hex(value, digits: 8)): \(route)") }
      print("  after probe: \(after)")
    }
  }
}

/// `iommu-model trace arm-smmu`: the access trace of probe followed by shutdown.
struct TraceARMSMMU: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "arm-smmu",
    abstract: "Print the arm-smmu model's register accesses at probe, then at shutdown (per --variant).")

  @OptionGroup var options: ARMSMMUOptions
  @OptionGroup var output: OutputOptions

  func run() throws {
    let s = try ARMSMMUScenario.make(options)
    let error = s.probe()
    let probeLines = s.recorder.trace.lines
    s.recorder.trace.removeAll()
    s.core.deviceShutdown()
    let shutdownLines = s.recorder.trace.lines
    if output.json {
      print(
        CheckReport(error: error, log: s.kernel.log.lines, trace: probeLines + shutdownLines)
          .render(json: true))
      return
    }
    print("# probe (\(error.map { "\($0)" } ?? "0"))")
    probeLines.forEach { print($0) }
    print("# shutdown (variant \(options.variant))")
    shutdownLines.forEach { print($0) }
  }
}
