import IOMMUModel

/// QEMU 10's `-M virt,iommu=smmuv3` as far as the arm-smmu-v3 driver sees it: an SMMUv3 at
/// 0x09050000 (128 KiB, "arm,smmu-v3", `#iommu-cells = <1>`, `dma-coherent`, wired
/// eventq/priq/cmdq-sync/gerror interrupts) and the two PCI functions behind it, the host
/// bridge 00:00.0 (stream 0) and virtio-net 00:01.0 (stream 8), in RAM at 0x40000000.
///
/// ```swift
/// let board = ARMSMMUv3Board()
/// #expect(board.probe() == nil)
/// board.shutdown()
/// print(board.recorder.lines)   // W32 0x0020 0x00000000 ... as QEMU traced the real kernel
/// ```
public final class ARMSMMUv3Board {
  public static let smmuBase: UInt64 = 0x0905_0000
  public static let ramBase: UInt64 = 0x4000_0000
  public static let ramSize: UInt64 = 128 << 20

  public let kernel: Kernel
  public let core: DriverCore
  public let memory: PhysicalMemory
  public let smmu: SMMUv3
  public let recorder: SMMUv3TraceRecorder
  public let smmuDevice: Device
  public let pciDevices: [Device]
  public let driver: ARMSMMUv3Driver

  /// The CMA area of `contiguousArea` boards: the top 16 MiB of RAM, the same for every kernel
  /// that is not a crash kernel (Debian's arm64 kernels reserve one at boot).
  public static let cmaSize: UInt64 = 16 << 20

  /// A board that boots a kernel. Pass `after` to boot a second kernel (kexec or kdump) on the
  /// same SMMU and memory as a previous board; its DMA pool is then the other half of RAM, as a
  /// crashkernel= reservation would be. With `contiguousArea`, multi-page allocations of a
  /// kernel that is not a crash kernel come from a CMA area at the top of RAM, as in the real
  /// kernel: a kexec'd kernel then finds its queues (1 MiB each) where the first kernel had
  /// them, and only its single-page allocations (the L1 stream table) elsewhere.
  public init(
    kdump: Bool = false, variant: ARMSMMUv3Variant = .kernel,
    configuration: SMMUv3Configuration = .qemu10, commandLine: String = "",
    contiguousArea: Bool = false, after previous: ARMSMMUv3Board? = nil
  ) {
    kernel = Kernel(
      name: kdump ? "crash kernel" : "kernel",
      context: KernelContext(isKdumpKernel: kdump, commandLine: CommandLine(commandLine)),
      clock: previous?.kernel.clock ?? SimulatedClock())
    if let previous {
      memory = previous.memory
      smmu = previous.smmu
    } else {
      memory = PhysicalMemory()
      memory.addRAM(base: Self.ramBase, size: Self.ramSize)
      smmu = SMMUv3(memory: memory, configuration: configuration)
    }
    let half = Self.ramSize / 2
    let cma = contiguousArea && !kdump ? Self.cmaSize : 0
    let pool = DMAAllocator(
      memory: memory, base: Self.ramBase + (previous == nil ? half : 0), size: half - cma,
      owner: kdump ? .crashReservation : .kernel(kernel.name))
    if cma > 0 {
      pool.contiguous = DMAAllocator(
        memory: memory, base: Self.ramBase + Self.ramSize - cma, size: cma, owner: .kernel(kernel.name))
    }
    core = DriverCore(kernel: kernel, memory: memory, dmaAllocator: pool)
    recorder = SMMUv3TraceRecorder(smmu)
    smmuDevice = Device(
      name: "9050000.smmuv3", bus: .platform,
      identity: .platform(compatible: ["arm,smmu-v3"], acpiHID: nil),
      resources: [DeviceResource(name: "smmu", base: Self.smmuBase, io: recorder.io)], irqCount: 4)
    smmuDevice.properties = [
      "#iommu-cells": [1], "dma-coherent": .flag,
      "interrupt-names": .strings(["eventq", "priq", "cmdq-sync", "gerror"]),
    ]
    pciDevices = [
      Device(
        name: "0000:00:00.0", bus: .pci,
        identity: .pci(PCIIdentity(vendor: 0x1b36, device: 0x0008, classCode: 0x060000)),
        iommu: smmuDevice, streamIDs: [0x0]),
      Device(
        name: "0000:00:01.0", bus: .pci,
        identity: .pci(PCIIdentity(vendor: 0x1af4, device: 0x1000, classCode: 0x020000)),
        iommu: smmuDevice, streamIDs: [0x8]),
    ]
    driver = ARMSMMUv3Driver(variant: variant)
  }

  /// Registers the PCI functions and the SMMU, then the driver: the SMMU probes, and its
  /// registration probes the functions behind it. Returns the probe's error, if any.
  @discardableResult
  public func probe() -> Errno? {
    for device in pciDevices { core.register(device) }
    core.register(smmuDevice)
    core.register(driver)
    if case .probeFailed(let error) = smmuDevice.state { return error }
    return nil
  }

  /// `device_shutdown()`, as at poweroff or kexec.
  public func shutdown() { core.deviceShutdown() }

  /// The bound driver's state.
  public var smmuState: ARMSMMUv3Device? { ARMSMMUv3Driver.smmu(of: smmuDevice) }
}
