// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "IOMMUModel",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "IOMMUModel", targets: ["IOMMUModel"]),
    .library(name: "IOMMUModelTesting", targets: ["IOMMUModelTesting"]),
    .executable(name: "iommu-model", targets: ["iommu-model"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
  ],
  targets: [
    // MARK: Framework (Sources/)
    .target(name: "MMIO"),
    .target(name: "Kernel", dependencies: [.product(name: "Logging", package: "swift-log")]),
    .target(name: "Memory", dependencies: ["MMIO"]),
    .target(name: "DeviceCore", dependencies: ["MMIO", "Kernel", "Memory"]),
    .target(name: "PCI", dependencies: ["MMIO"]),
    .target(name: "Firmware"),
    .target(name: "SimulatedHardware", dependencies: ["MMIO", "Memory", "PCI", "Kernel"]),
    // The handover machine: memory, DMA masters, kernels, kexec and kdump (issue 8).
    .target(
      name: "Machine",
      dependencies: [
        "MMIO", "Kernel", "Memory", "DeviceCore", "PCI", "SimulatedHardware", "RISCVIOMMU", "ARMSMMU", "ARMSMMUv3",
        "IntelIOMMU",
      ]),
    // A tiny IOMMU (hardware, driver, adapter) to test the machine and users' own adapters.
    .target(name: "MachineTesting", dependencies: ["Machine"]),
    .target(name: "OracleTraces", dependencies: ["MMIO"]),
    // Host state (issue 3): libpci through C shims, typed IOMMU capability registers, the
    // read-only view of the real host.
    .systemLibrary(
      name: "CLibPCI", path: "CShims/CLibPCI", pkgConfig: "libpci", providers: [.apt(["libpci-dev"])]),
    .target(name: "CPCIShim", dependencies: ["CLibPCI"], path: "CShims/CPCIShim"),
    .target(name: "IOMMURegisters", dependencies: ["MMIO"]),
    .target(name: "HostState", dependencies: ["MMIO", "PCI", "Firmware", "IOMMURegisters", "CPCIShim"]),

    // MARK: Drivers (drivers/iommu/...), mirroring the kernel tree
    .target(
      name: "RISCVIOMMU", dependencies: ["MMIO", "Kernel", "DeviceCore", "PCI", "Firmware", "Memory"],
      path: "drivers/iommu/riscv"),
    .target(
      name: "ARMSMMU",
      dependencies: ["MMIO", "Kernel", "DeviceCore", "PCI", "Firmware", "Memory"],
      path: "drivers/iommu/arm/arm-smmu"),
    .target(
      name: "ARMSMMUv3", dependencies: ["MMIO", "Kernel", "DeviceCore", "PCI", "Firmware", "Memory"],
      path: "drivers/iommu/arm/arm-smmu-v3"),
    .target(
      name: "IntelIOMMU",
      dependencies: ["MMIO", "Kernel", "DeviceCore", "PCI", "Firmware", "Memory", "IOMMURegisters"],
      path: "drivers/iommu/intel"),

    // MARK: Products
    .target(
      name: "IOMMUModel",
      dependencies: [
        "MMIO", "Kernel", "Memory", "DeviceCore", "PCI", "Firmware", "SimulatedHardware", "IOMMURegisters",
        "HostState", "RISCVIOMMU", "ARMSMMU", "ARMSMMUv3", "IntelIOMMU", "Machine",
      ]),
    .target(
      name: "IOMMUModelTesting",
      dependencies: ["IOMMUModel"]),
    .target(name: "ModelTraces", dependencies: ["MMIO", "IOMMUModel", "IOMMUModelTesting", "OracleTraces"]),
    .executableTarget(
      name: "iommu-model",
      dependencies: [
        "IOMMUModel",
        "IOMMUModelTesting",
        "MachineTesting",
        "OracleTraces",
        "ModelTraces",
        "HostState",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),

    // MARK: Tests
    .testTarget(name: "MMIOTests", dependencies: ["MMIO", "IOMMUModelTesting"]),
    .testTarget(
      name: "KernelTests",
      dependencies: ["Kernel", "IOMMUModelTesting", .product(name: "Logging", package: "swift-log")]),
    .testTarget(name: "MemoryTests", dependencies: ["Memory"]),
    .testTarget(name: "DeviceCoreTests", dependencies: ["DeviceCore", "IOMMUModelTesting"]),
    .testTarget(name: "FirmwareTests", dependencies: ["Firmware", "IOMMUModelTesting"]),
    .testTarget(name: "RISCVIOMMUTests", dependencies: ["RISCVIOMMU", "IOMMUModelTesting", "OracleTraces"]),
    .testTarget(name: "ARMSMMUTests", dependencies: ["ARMSMMU", "IOMMUModelTesting"]),
    .testTarget(name: "ARMSMMUv3Tests", dependencies: ["ARMSMMUv3", "IOMMUModelTesting", "OracleTraces"]),
    .testTarget(name: "IntelIOMMUTests", dependencies: ["IntelIOMMU", "IOMMUModelTesting"]),
    .testTarget(name: "OracleTracesTests", dependencies: ["OracleTraces", "IOMMUModelTesting"]),
    .testTarget(name: "ModelTracesTests", dependencies: ["ModelTraces", "OracleTraces", "IOMMUModelTesting"]),
    .testTarget(name: "PCITests", dependencies: ["PCI", "IOMMUModelTesting"]),
    .testTarget(name: "HostStateTests", dependencies: ["HostState", "IOMMURegisters", "IOMMUModelTesting"]),
    .testTarget(name: "MachineTests", dependencies: ["Machine", "MachineTesting"]),
  ],
  swiftLanguageModes: [.v6]
)
