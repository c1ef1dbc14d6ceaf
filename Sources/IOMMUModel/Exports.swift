// The one import a user needs: `import IOMMUModel`.
@_exported import ARMSMMU
@_exported import ARMSMMUv3
@_exported import DeviceCore
@_exported import Firmware
@_exported import HostState
@_exported import IOMMURegisters
@_exported import IntelIOMMU
@_exported import Kernel
@_exported import MMIO
@_exported import Machine
@_exported import Memory
@_exported import PCI
@_exported import RISCVIOMMU
@_exported import SimulatedHardware
