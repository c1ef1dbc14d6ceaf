import ARMSMMUv3
import DeviceCore
import Kernel
import MMIO
import Memory
import SimulatedHardware

/// QEMU 10's SMMUv3 (`-M virt,iommu=smmuv3`) on the handover machine, with the driver's
/// variants (`kernel`: shutdown clears CR0 and traffic follows GBPA; `abort-handover`: GBPA.ABORT
/// first; `kdump-adopt`: the proposed series) and the kernel-list policy through the driver's
/// `kernel-list` variant. Its clients are PCI functions, enumerated before the SMMU probes so
/// that its registration attaches their default domains.
public final class ARMSMMUv3Adapter: HandoverIOMMU {
  public let name = "smmuv3"
  /// The driver's variants but `kernel-list`, which the matrix adds as the policy.
  public var variants: [String] { Self.variantNames }
  public let clientBus = BusType.pci
  /// CR0 (SMMUEN), GBPA (bypass or abort while disabled), STRTAB_BASE (the stream table).
  public var controlRegisters: Set<Int> { Self.controlRegisterOffsets }
  // Made once, not per adapter: the matrix makes a fresh adapter for every handover.
  static let variantNames = ARMSMMUv3Variant.allCases.filter { $0 != .kernelList }.map { $0.rawValue }
  static let controlRegisterOffsets: Set<Int> = [0x20, 0x44, 0x80]
  // The device's firmware description, the same in every kernel: shared, not rebuilt per boot.
  static let identity = DeviceIdentity.platform(compatible: ["arm,smmu-v3"], acpiHID: nil)
  static let properties: [String: FirmwareProperty] = [
    "#iommu-cells": [1], "dma-coherent": .flag,
    "interrupt-names": .strings(["eventq", "priq", "cmdq-sync", "gerror"]),
  ]
  /// The driver's `kernel-list` variant in both kernels: its shutdown leaves SMMUEN set, and its
  /// reset makes the switch itself (GBPA.ABORT, then the CR0 write clearing SMMUEN).
  public var kernelList: KernelListSupport? {
    .driverVariant(ARMSMMUv3Variant.kernelList.rawValue)
  }
  public let clientsEnumeratedFirst = true

  public init() {}

  public func makeHardware(memory: PhysicalMemory) -> any IOMMUHardwareModel {
    let smmu = SMMUv3(memory: memory)
    // The machine counts blocked transactions; it reads no reason.
    smmu.describesBlockedRoutes = false
    return smmu
  }

  public func install(
    _ hardware: any IOMMUHardwareModel, variant: String, in boot: KernelBoot
  ) throws(HandoverError) -> any IOMMUBinding {
    guard let smmu = hardware as? SMMUv3 else { throw HandoverError("not an SMMUv3") }
    guard let v = ARMSMMUv3Variant(rawValue: variant) else {
      throw HandoverError("smmuv3 has no variant '\(variant)'")
    }
    let device = Device(
      name: "9050000.smmuv3", bus: .platform,
      identity: Self.identity,
      resources: [DeviceResource(name: "smmu", base: 0x0905_0000, io: boot.tap(smmu.registers))],
      irqCount: 4)
    device.properties = Self.properties
    boot.registerDevice(device)
    boot.registerDriver(ARMSMMUv3Driver(variant: v))
    return ARMSMMUv3Binding(device: device, boot: boot)
  }

  public func recordedFaults(_ hardware: any IOMMUHardwareModel) -> Int {
    (hardware as? SMMUv3)?.events.count ?? 0
  }
}

/// The default domain `iommu_device_register()` attached: identity (bypass STE) or a stage-1
/// DMA domain whose LPAE table the adapter fills, as io-pgtable-arm would.
final class ARMSMMUv3Binding: IOMMUBinding {
  let device: Device
  let memory: PhysicalMemory
  let allocator: DMAAllocator

  init(device: Device, boot: KernelBoot) {
    self.device = device
    memory = boot.memory
    allocator = boot.allocator
  }

  /// AArch64 LPAE, 4 KiB granule, 48-bit input (levels 0-3): table descriptors b1:0 = 3, pages
  /// b1:0 = 3 with AF (b10) and AP[2] (b7) clear, so writable.
  static let lpae = RadixFormat(
    levels: 4, table: { $0 | 3 }, leaf: { $0 | 0x403 }, isValid: { $0 & 1 != 0 },
    next: { $0 & 0x0000_FFFF_FFFF_F000 })

  func attach(_ client: Device, streamID: UInt32) throws(Errno) -> any DMAMapping {
    guard let smmu = ARMSMMUv3Driver.smmu(of: device),
      let master = smmu.masters.first(where: { $0.dev === client })
    else { throw .ENODEV }
    switch master.domain {
    case .identity?: return DirectMapping()
    case nil:
      // kdump-adopt defers the attach to the first DMA API use; the driver model has no entry
      // point for that deferred attach, so the device cannot get a domain.
      throw client.errProbe(.EOPNOTSUPP, "deferred attach not modelled by the SMMUv3 driver")
    default:
      guard let pgd = master.pgd else { throw .ENODEV }
      return try RadixDomain(
        memory: memory, allocator: allocator, format: Self.lpae, aperture: 1 << 48, root: pgd.address)
    }
  }
}
