import DeviceCore
import IntelIOMMU
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// A q35 machine with one VT-d unit at 0xfed90000 (QEMU's `-M q35 -device intel-iommu`): RAM,
/// the hardware model, the DMAR table firmware gives, and kernels that boot on it one after
/// another. Memory and the unit persist across kernels (kexec and kdump do not reset them); a
/// crash kernel allocates from the crashkernel= reservation.
public final class IntelVTdMachine {
  public static let registerBase: UInt64 = 0xfed9_0000
  /// The PCI functions of the reference q35 machine: 00:00.0, 00:01.0, 00:02.0, 00:1f.0/2/3.
  public static let q35Devices: [UInt16] = [0x0000, 0x0008, 0x0010, 0x00f8, 0x00fa, 0x00fb]

  public let memory = PhysicalMemory()
  public let unit: IntelVTd
  public let firmware: DMARDescription
  public let pciDevices: [UInt16]
  /// Where each kernel's page allocator takes pages from.
  public static let kernelPool = (base: UInt64(0x0100_0000), size: UInt64(0x0200_0000))
  public static let crashPool = (base: UInt64(0x2000_0000), size: UInt64(0x0200_0000))

  public init(
    configuration: VTdConfiguration = .qemuIntremap, firmware: DMARDescription? = nil,
    pciDevices: [UInt16] = IntelVTdMachine.q35Devices
  ) {
    memory.addRAM(base: 0, size: 0x4000_0000)
    unit = IntelVTd(name: "dmar0", configuration: configuration, memory: memory)
    self.pciDevices = pciDevices
    self.firmware =
      firmware
      ?? .qemuQ35(
        devices: pciDevices, addressWidth: configuration.addressWidth,
        interruptRemapping: configuration.interruptRemapping)
  }

  /// One kernel running on the machine: its driver core, the VT-d driver, and the canonical
  /// trace of its register accesses.
  public final class Boot {
    public let kernel: Kernel
    public let core: DriverCore
    public let driver: IntelIOMMUDriver
    public let trace: AccessTrace
    init(kernel: Kernel, core: DriverCore, driver: IntelIOMMUDriver, trace: AccessTrace) {
      self.kernel = kernel
      self.core = core
      self.driver = driver
      self.trace = trace
    }
    /// The kernel log so far.
    public var log: [String] { kernel.log.lines }
  }

  /// A new kernel on this machine (not yet booted: run its steps with `driver.run(...)`).
  public func kernel(
    kdump: Bool = false, commandLine: String = "intel_iommu=on", variant: IntelIOMMUVariant = .kernel,
    clock: SimulatedClock = SimulatedClock()
  ) -> Boot {
    let kernel = Kernel(
      name: kdump ? "crash kernel" : "kernel",
      context: KernelContext(isKdumpKernel: kdump, commandLine: CommandLine(commandLine)), clock: clock)
    let pool = kdump ? Self.crashPool : Self.kernelPool
    let allocator = DMAAllocator(
      memory: memory, base: pool.base, size: pool.size, owner: kdump ? .crashReservation : .kernel(kernel.name))
    let core = DriverCore(kernel: kernel, memory: memory, dmaAllocator: allocator)
    let trace = AccessTrace()
    let io = RecordingRegisterIO(unit.mmio, trace: trace)
    let driver = IntelIOMMUDriver(
      core: core, firmware: firmware, registerBlocks: [Self.registerBase: io], pciDevices: pciDevices,
      variant: variant)
    return Boot(kernel: kernel, core: core, driver: driver, trace: trace)
  }
}

extension DMARDescription {
  /// The DMAR table QEMU 10 builds for q35 with intel-iommu (build_dmar_q35()): host address
  /// width aw-bits - 1, INTR_REMAP when intremap is on, one DRHD at 0xfed90000 without
  /// INCLUDE_PCI_ALL whose scope is the root-complex IOAPIC (id 0, 0xff:00.0) followed by one
  /// endpoint entry per PCI function of bus 0.
  public static func qemuQ35(devices: [UInt16], addressWidth: Int = 48, interruptRemapping: Bool = true)
    -> DMARDescription
  {
    var scopes = [DMARScope(kind: .ioapic, enumerationID: 0, bus: 0xff, path: [(0, 0)])]
    for rid in devices {
      scopes.append(
        DMARScope(kind: .endpoint, bus: UInt8(rid >> 8), path: [(UInt8(rid >> 3 & 0x1f), UInt8(rid & 7))]))
    }
    return DMARDescription(
      hostAddressWidthField: UInt8(addressWidth - 1), flags: interruptRemapping ? 1 : 0,
      drhds: [DRHDDescription(address: IntelVTdMachine.registerBase, flags: 0, scopes: scopes)])
  }
}
