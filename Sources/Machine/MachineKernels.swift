import DeviceCore
import Kernel
import MMIO
import Memory

/// How the old kernel hands the machine over.
public enum HandoverScenario: String, Sendable, Hashable, CaseIterable, Codable {
  /// `kernel_kexec()`: `device_shutdown()` (consumers first, the IOMMU later, late hooks last),
  /// then the next kernel is loaded over memory the old one used.
  case kexec
  /// `__crash_kexec()`: no shutdown callback at all; the crash kernel runs in its reservation
  /// and the old kernel's memory is what the dump saves.
  case kdump
}

extension Machine {
  /// Boots the first kernel: IOMMU drivers probe, then the clients, whose drivers map their
  /// buffers and start their engines.
  public func bootOldKernel(commandLine: String = "") throws(HandoverError) {
    stage = .oldKernelBoot
    event("machine", "-- \(HandoverStage.oldKernelBoot.rawValue)")
    let kernel = Kernel(
      name: "old kernel", context: KernelContext(commandLine: CommandLine(commandLine)), clock: clock,
      keepsLog: options.keepKernelLogs)
    let plan = options.plan
    let pool = DMAAllocator(
      memory: memory, base: plan.dmaPoolBase, size: plan.dmaPoolSize, owner: .kernel("old"))
    try boot(kernel, allocator: pool, variants: iommus.map { oldVariant($0) })
  }

  /// The old kernel runs: every engine moves a burst of data.
  public func runOldKernel() {
    enter(.oldKernelRunning)
    sampleDMA(options.burst)
    clock.advance(nanoseconds: options.oldKernelRunNanoseconds)
  }

  /// `kernel_kexec()` or `__crash_kexec()`, then the next kernel's loading and early boot.
  public func handOver(_ scenario: HandoverScenario) {
    self.scenario = scenario
    switch scenario {
    case .kexec: kexec()
    case .kdump: crash()
    }
    memory.tracksWrittenPages = false
    for client in clients { client.engine.orphan() }
    enter(.kernelLoad)
    let plan = options.plan
    switch scenario {
    case .kexec:
      // The image is copied to where the old one ran, and the next kernel's early boot reuses
      // the old kernel's pages: everything the old kernel wrote is overwritten.
      for range in plan.oldKernelRanges() {
        memory.setOwner(.kernel("new"), base: range.base, size: range.size)
      }
      scribbleOldKernelPages()
      event("machine", "next kernel loaded over the old kernel's memory (\(oldKernelPages.count) pages reused)")
    case .kdump:
      event("machine", "crash kernel runs in its reservation; the old kernel's memory is the dump")
    }
    sampleDMA(options.burst)
    clock.advance(nanoseconds: options.earlyBootNanoseconds)
  }

  /// Mirrors kernel_kexec(), kernel/kexec_core.c (Linux 7.2): `kexec_in_progress`, then
  /// `device_shutdown()` with the late hooks (`machine_shutdown()`'s `iommu_shutdown`).
  private func kexec() {
    enter(.deviceShutdown)
    guard let kernel, let core else { return }
    kernel.context.kexecInProgress = true
    core.deviceShutdown()
    for client in clients where client.device?.busMasterEnabled == false { client.busMaster = false }
    kernel.printk(.notice, "Starting new kernel")
    event("machine", "shutdown order: \(core.shutdownOrder.joined(separator: ", "))")
  }

  /// Mirrors __crash_kexec(), kernel/crash_core.c (Linux 7.2): `machine_crash_shutdown()` stops
  /// CPUs and interrupt controllers only; every device and IOMMU keeps its state.
  private func crash() {
    enter(.crash)
    kernel?.printk(.emerg, "Kernel panic - not syncing: sysrq triggered crash")
    sampleDMA(1)
  }

  /// What the next kernel leaves in a page it reuses.
  static let scribblePattern = (0..<Int(PhysicalMemory.pageSize)).map {
    UInt8(truncatingIfNeeded: $0 &* 0x9E) | 0x01
  }

  /// Fills every page the old kernel wrote with the next kernel's data.
  private func scribbleOldKernelPages() {
    let pattern = Self.scribblePattern
    let next = memory.ownerID(.kernel("new"))
    for page in oldKernelPages {
      let address = page << PhysicalMemory.pageShift
      guard memory.ownerID(of: address) == next else { continue }
      // The same page each time: the memory shares one copy of it among them.
      try? memory.writePage(pattern, at: address)
    }
  }

  /// Boots the next kernel (kexec'd, or the crash kernel): IOMMUs probe (`init_check`, reset,
  /// inherit...), then the clients probe again.
  public func bootNextKernel(commandLine: String = "") throws(HandoverError) {
    guard let scenario else { throw HandoverError("bootNextKernel() before handOver()") }
    let kdump = scenario == .kdump
    generation = kdump ? "crash" : "new"
    let plan = options.plan
    let pool = DMAAllocator(
      memory: memory, base: kdump ? plan.crashPoolBase : plan.dmaPoolBase,
      size: kdump ? plan.crashPoolSize : plan.dmaPoolSize, owner: .kernel(generation))
    let kernel = Kernel(
      name: kdump ? "crash kernel" : "kexec kernel",
      context: KernelContext(isKdumpKernel: kdump, commandLine: CommandLine(commandLine)), clock: clock,
      keepsLog: options.keepKernelLogs)
    enter(.nextKernelIOMMUProbe)
    for iommu in iommus where iommu.variant == Machine.kernelListPolicy {
      guard let switchToBlocking = iommu.adapter.kernelList?.switchToBlocking else { continue }
      do throws(Errno) {
        try switchToBlocking(iommu.hardware, memory, pool)
        event(iommu.hardware.name, "switched atomically to all-abort tables (kernel-list policy)")
      } catch {
        event(iommu.hardware.name, "switch to all-abort tables failed: \(error)")
      }
    }
    try boot(kernel, allocator: pool, variants: iommus.map { nextVariant($0) })
  }

  /// The next kernel runs: every engine moves a burst; a client works again when all of it
  /// lands in the buffers its new driver gave it.
  public func runNextKernel() {
    enter(.nextKernelRunning)
    sampleDMA(options.burst)
    closeStage()
  }

  /// The driver variant the old kernel runs for `iommu`.
  func oldVariant(_ iommu: MachineIOMMU) -> String {
    iommu.variant == Machine.kernelListPolicy
      ? iommu.adapter.kernelList?.shutdownVariant ?? "kernel" : iommu.variant
  }

  func nextVariant(_ iommu: MachineIOMMU) -> String {
    iommu.variant == Machine.kernelListPolicy
      ? iommu.adapter.kernelList?.bootVariant ?? "kernel" : iommu.variant
  }

  /// Probes IOMMUs then clients in a fresh driver core on `kernel`.
  private func boot(_ kernel: Kernel, allocator: DMAAllocator, variants: [String]) throws(HandoverError) {
    let core = DriverCore(kernel: kernel, memory: memory, dmaAllocator: allocator)
    self.kernel = kernel
    self.core = core
    self.allocator = allocator
    kernels.append((kernel, core))
    lateRegistrations.removeAll()
    // PCI enumeration before the IOMMU, where the adapter needs it: the devices exist (no
    // driver yet) and are placed behind their IOMMU as its device is added. Such a client's
    // `device` is this kernel's from here on.
    for client in clients where client.enumeratedEarly {
      let device = makeClientDevice(client)
      client.device = device
      core.register(device)
    }
    for (i, iommu) in iommus.enumerated() {
      let boot = KernelBoot(
        kernel: kernel, core: core, memory: memory, allocator: allocator, machine: self, iommu: iommu,
        iommuIndex: i)
      iommu.binding = try iommu.adapter.install(iommu.hardware, variant: variants[i], in: boot)
    }
    if stage == .nextKernelIOMMUProbe { enter(.nextKernelClientProbe) }
    for (client, driver) in zip(clients, clientDrivers) {
      let device: Device
      if client.enumeratedEarly, let early = client.device {
        device = early
      } else {
        device = makeClientDevice(client)
        client.device = device
        core.register(device)
      }
      core.register(driver)
    }
    core.initcallsDone()
    // Only a late module has registrations left.
    if !lateRegistrations.isEmpty {
      let late = lateRegistrations
      lateRegistrations = []
      for register in late { register() }
    }
    for iommu in iommus {
      iommu.initResults.append(probeResult(iommu.binding?.device))
    }
  }

  /// `device_add()` of IOMMU `index`'s device in the booting kernel: the clients enumerated
  /// before it are placed behind it; a late module's device is added after the clients.
  func registerIOMMUDevice(_ device: Device, iommuIndex index: Int, in core: DriverCore) {
    for client in clients where client.iommuIndex == index && client.enumeratedEarly {
      client.device?.iommu = device
    }
    if options.iommuDriverLoadedLate {
      lateRegistrations.append { core.register(device) }
    } else {
      core.register(device)
    }
  }

  private func probeResult(_ device: Device?) -> Errno? {
    switch device?.state {
    case .probeFailed(let e): e
    case .deferred, .registered: .EPROBE_DEFER
    case nil: .ENODEV
    default: nil
    }
  }

  private func makeClientDevice(_ client: MachineClient) -> Device {
    // The name and identity are the same in every kernel: made once per rig, with the function.
    let function = client.function
    return Device(
      name: function.deviceName, bus: function.bus, identity: function.identity,
      iommu: iommus[client.iommuIndex].binding?.device, streamIDs: function.streamIDs)
  }
}
