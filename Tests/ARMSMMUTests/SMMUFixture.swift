import IOMMUModelTesting
import Testing

/// One SMMU on a platform bus: the MMU-500 hardware model behind a recording register
/// interface, a kernel with memory and a DMA pool, and the arm-smmu driver.
final class SMMUFixture {
  static let deviceName = "2b500000.iommu"
  static let base: UInt64 = 0x2b50_0000

  let hw: ARMSMMUv2
  let traced: TracedRegisters
  let kernel: Kernel
  let core: DriverCore
  let driver: ARMSMMUDriver
  let device: Device
  let memory: PhysicalMemory

  /// A fresh kernel on hardware `hw` (a new SMMU unless one is handed over from an old kernel).
  init(
    hw: ARMSMMUv2? = nil, memory: PhysicalMemory? = nil,
    configuration: SMMUv2Configuration = .mmu500, kdump: Bool = false,
    parameters: [String: String] = [:], variant: ARMSMMUVariant = .kernel,
    compatible: String = "arm,mmu-500", irqCount: Int = 9,
    properties: [String: FirmwareProperty] = ["#global-interrupts": [1]],
    setUp: (ARMSMMUv2) -> Void = { _ in }
  ) {
    let memory = memory ?? Self.makeMemory()
    self.memory = memory
    let hw = hw ?? ARMSMMUv2(configuration: configuration, memory: memory)
    self.hw = hw
    setUp(hw)
    traced = TracedRegisters(hw.registers)
    kernel = Kernel(
      name: kdump ? "crash kernel" : "kernel",
      context: KernelContext(isKdumpKernel: kdump, moduleParameters: parameters))
    let pool: UInt64 = kdump ? 0x9000_0000 : 0x8100_0000
    core = DriverCore(
      kernel: kernel, memory: memory,
      dmaAllocator: DMAAllocator(memory: memory, base: pool, size: 0x10_0000, owner: .kernel(kernel.name)))
    driver = ARMSMMUDriver(variant: variant)
    device = Device(
      name: Self.deviceName, bus: .platform,
      identity: .platform(compatible: [compatible], acpiHID: nil),
      resources: [DeviceResource(name: "smmu", base: Self.base, io: traced.recorder)],
      irqCount: irqCount)
    device.properties = properties
  }

  static func makeMemory() -> PhysicalMemory {
    let memory = PhysicalMemory()
    memory.addRAM(base: 0x8000_0000, size: 0x2000_0000)
    return memory
  }

  /// Registers the driver and the device; returns the probe's error, nil when it bound.
  @discardableResult
  func probe() -> Errno? {
    core.register(driver)
    core.register(device)
    if case .probeFailed(let e) = device.state { return e }
    return device.isBound ? nil : .EPROBE_DEFER
  }

  var log: [String] { kernel.log.lines }
  var trace: [String] { traced.lines }
  var smmu: ARMSMMUDevice? { driver.smmu(of: device) }

  /// A master behind this SMMU emitting `streamIDs`, bound to a scripted driver.
  func master(_ name: String, streamIDs: [UInt32]) -> Device {
    let m = Device(
      name: name, bus: .platform, identity: .platform(compatible: ["test,dma"], acpiHID: nil),
      iommu: device, streamIDs: streamIDs)
    core.register(ScriptedDriver(name: "dma", matchTable: [.compatible("test,dma")]))
    core.register(m)
    return m
  }
}

/// A canonical trace line.
func line(_ kind: Character, _ offset: Int, _ value: UInt32) -> String {
  "\(kind)32 \(hex(offset, digits: 4)) \(hex(value, digits: 8))"
}

/// The device's dev_printk prefix.
let p = "arm-smmu 2b500000.iommu: "
