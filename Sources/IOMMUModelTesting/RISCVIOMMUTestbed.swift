import IOMMUModel

/// A RISC-V machine with one riscv-iommu-pci (or platform riscv,iommu) on the hardware model,
/// a kernel with memory and a DMA pool, and QEMU virt's host bridge 0000:00:00.0 behind the
/// IOMMU (stream ID 0), as in the reference boot of linux-7.2-traces.
///
/// ```swift
/// let bed = RISCVIOMMUTestbed(kdump: true)
/// bed.hardware.registers.poke(0x4, .qword, at: RISCVIOMMUSpec.ddtp)
/// let result = bed.checkInit()      // nil, or the errno init_check returned
/// print(bed.trace.lines, bed.log)
/// ```
public final class RISCVIOMMUTestbed {
  public let kernel: Kernel
  public let memory: PhysicalMemory
  public let core: DriverCore
  public let hardware: RISCVIOMMUHardware
  /// Every register access the driver made, in canonical form.
  public let trace: AccessTrace
  /// The IOMMU: PCI 0000:00:01.0, or platform 3000000.iommu.
  public let device: Device
  /// QEMU virt's PCIe host bridge 1b36:0008, behind the IOMMU with stream ID 0, driverless.
  public let hostBridge: Device
  public let pciDriver: RISCVIOMMUPCIDriver
  public let platformDriver: RISCVIOMMUPlatformDriver
  public let policy: RISCVIOMMUPolicy

  /// RAM of the reference machine (QEMU virt starts RAM at 0x8000_0000).
  public static let ramBase: UInt64 = 0x8000_0000
  public static let ramSize: UInt64 = 0x1000_0000

  public init(
    kdump: Bool = false, policy: RISCVIOMMUPolicy = .kernel,
    configuration: RISCVIOMMUConfiguration? = nil,
    faultInjection: RISCVIOMMUFaultInjection = RISCVIOMMUFaultInjection(),
    platform: Bool = false, irqCount: Int = 4, clock: SimulatedClock = SimulatedClock(),
    after previous: RISCVIOMMUTestbed? = nil
  ) {
    kernel = Kernel(
      name: kdump ? "crash kernel" : "kernel", context: KernelContext(isKdumpKernel: kdump),
      clock: previous?.kernel.clock ?? clock)
    self.policy = policy
    if let previous {
      // The next kernel of a kexec or a crash: same memory, same (unreset) IOMMU, its own DMA pool.
      memory = previous.memory
      hardware = previous.hardware
    } else {
      memory = PhysicalMemory()
      memory.addRAM(base: Self.ramBase, size: Self.ramSize)
      let config = configuration ?? (platform ? .platformWSI : .qemuPCI)
      hardware = RISCVIOMMUHardware(
        configuration: config, memory: memory, platform: platform, faultInjection: faultInjection)
    }
    let poolBase = Self.ramBase + (previous == nil ? 0x0380_0000 : 0x0580_0000)
    let pool = DMAAllocator(memory: memory, base: poolBase, size: 0x0100_0000, owner: .kernel(kernel.name))
    core = DriverCore(kernel: kernel, memory: memory, dmaAllocator: pool)
    let config = hardware.configuration
    trace = AccessTrace()
    let recorder = RecordingRegisterIO(hardware.registers, trace: trace)
    if platform {
      device = Device(
        name: "3000000.iommu", bus: .platform,
        identity: .platform(compatible: [RISCVIOMMUPlatformDevice.compatible], acpiHID: nil),
        resources: [DeviceResource(name: "regs", base: RISCVIOMMUPlatformDevice.referenceBase, io: recorder)],
        irqCount: irqCount)
    } else {
      device = Device(
        name: "0000:00:01.0", bus: .pci,
        identity: .pci(
          PCIIdentity(
            vendor: RISCVIOMMUPCIFunction.vendorID, device: RISCVIOMMUPCIFunction.deviceID,
            classCode: RISCVIOMMUPCIFunction.classCode)),
        resources: [DeviceResource(name: "BAR0", base: RISCVIOMMUPCIFunction.referenceBARAddress, io: recorder)],
        // The function's config space is the hardware's: kexec and a crash do not reset it, so
        // the next kernel finds memory decoding on (no "enabling device" line, as on QEMU).
        configSpace: previous?.device.configSpace ?? RISCVIOMMUPCIFunction.configSpace(vectors: config.msixVectors))
    }
    hostBridge = Device(
      name: "0000:00:00.0", bus: .pci,
      identity: .pci(PCIIdentity(vendor: 0x1b36, device: 0x0008, classCode: 0x06_0000)),
      iommu: device, streamIDs: [0])
    pciDriver = RISCVIOMMUPCIDriver(policy: policy)
    platformDriver = RISCVIOMMUPlatformDriver(policy: policy)
    // The IOMMU's interrupts reach this kernel's driver (the newest kernel on the machine).
    let iommuDevice = device
    hardware.interruptSink = { vector in
      (iommuDevice.driverData as? RISCVIOMMUDevice)?.handleInterrupt(vector: vector)
    }
  }

  /// Sets registers through the hardware's backdoor (a previous kernel's state), untraced.
  public func poke(_ name: String, _ value: UInt64) {
    guard let d = hardware.registers.definition(named: name) else {
      preconditionFailure("no register \(name)")
    }
    hardware.registers.poke(value, d.width, at: d.offset)
  }

  /// The next kernel on the same machine: after ``shutdown()`` this is a normal kexec, without it
  /// a crash (`__crash_kexec()` runs no shutdown callback). The IOMMU is not reset.
  public func nextKernel(kdump: Bool, policy: RISCVIOMMUPolicy? = nil) -> RISCVIOMMUTestbed {
    RISCVIOMMUTestbed(
      kdump: kdump, policy: policy ?? self.policy, platform: device.bus == .platform,
      irqCount: device.irqCount, after: self)
  }

  /// Adds the devices and registers both drivers, so the IOMMU probes (device_initcall order:
  /// PCI enumeration first, then the builtin drivers).
  public func boot() {
    core.register(hostBridge)
    core.register(device)
    core.register(pciDriver)
    core.register(platformDriver)
  }

  /// The driver's state for the IOMMU once probed.
  public var iommu: RISCVIOMMUDevice? { device.driverData as? RISCVIOMMUDevice }

  /// Probe result: nil when bound, else the errno.
  public var probeResult: Errno? {
    switch device.state {
    case .bound: return nil
    case .probeFailed(let e): return e
    case .deferred: return .EPROBE_DEFER
    default: return .ENODEV
    }
  }

  /// Runs what `riscv_iommu_init()` runs first: the bus glue's probe preamble (capabilities,
  /// FCTL, interrupts) and then init_check, reporting its error as dev_err_probe would. The probe
  /// goes through the driver core under the real driver's name, so the log is the kernel's.
  /// Returns nil on success.
  @discardableResult
  public func checkInit() -> Errno? {
    let check = InitCheckDriver(isPlatform ? platformDriver : pciDriver) { device throws(Errno) in
      if device.bus == .platform {
        try self.platformDriver.prepare(device).runInitCheck()
      } else {
        try self.pciDriver.prepare(device).runInitCheck()
      }
    }
    core.register(hostBridge)
    core.register(device)
    core.register(check)
    return check.result ?? .ENODEV
  }

  private var isPlatform: Bool { device.bus == .platform }

  /// `device_shutdown()` of this kernel (the IOMMU's `.shutdown` runs).
  public func shutdown() { core.deviceShutdown() }

  /// The kernel log, one string a line.
  public var log: [String] { kernel.log.lines }

  /// A normaliser for RISC-V IOMMU traces: the PPNs of DDTP and the queue bases are renumbered.
  public static let traceNormalizer = TraceNormalizer(addressFields: [
    RISCVIOMMUSpec.ddtp: RISCVIOMMUSpec.ppnMask,
    RISCVIOMMUSpec.cqb: RISCVIOMMUSpec.ppnMask,
    RISCVIOMMUSpec.fqb: RISCVIOMMUSpec.ppnMask,
    RISCVIOMMUSpec.pqb: RISCVIOMMUSpec.ppnMask,
  ])
}

/// A driver with the real driver's name and match table whose probe only runs init_check.
private final class InitCheckDriver: DeviceDriver {
  let name: String
  let bus: BusType
  let matchTable: [DeviceMatch]
  let body: (Device) throws(Errno) -> Void
  /// nil until probed; then `.some(nil)` on success or the errno.
  var result: Errno?? = nil

  init(_ real: any DeviceDriver, _ body: @escaping (Device) throws(Errno) -> Void) {
    name = real.name
    bus = real.bus
    matchTable = real.matchTable
    self.body = body
  }

  func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    do {
      try body(device)
      result = .some(nil)
    } catch {
      result = .some(error)
      throw error
    }
  }
}
