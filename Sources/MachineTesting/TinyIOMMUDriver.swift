import DeviceCore
import Kernel
import MMIO
import Memory

/// The tiny IOMMU's driver, written the way the real ones are, with their policy choices as
/// variants.
public final class TinyIOMMUDriver: DeviceDriver {
  /// What the driver does at shutdown and when it finds translation left on at probe.
  public enum Variant: String, Sendable, Hashable, CaseIterable {
    /// Shutdown disables translation (bypass); probe disables (bypass) and resets.
    case kernel
    /// Shutdown aborts everything; probe aborts, then resets.
    case abort
    /// Shutdown leaves translation on; probe as `kernel`.
    case leave
    /// Probe keeps translation on and adopts the root table it finds (the kernel-list boot).
    case adopt
  }

  /// Per-device state (`dev_get_drvdata`): the live root table.
  public final class State {
    public let io: IOMem
    public var rootTable: UInt64
    init(io: IOMem, rootTable: UInt64) {
      self.io = io
      self.rootTable = rootTable
    }
  }

  public let variant: Variant
  public let name = "tiny-iommu"
  public let bus = BusType.platform
  public let matchTable: [DeviceMatch] = [.compatible("iommu-model,tiny-iommu")]
  public var hasShutdown: Bool { variant != .leave && variant != .adopt }

  public init(variant: Variant) { self.variant = variant }

  public func probe(_ device: Device, match: DeviceMatch) throws(Errno) {
    let io = try device.ioremap()
    let ctrl = try io.readl(TinyIOMMU.ctrl)
    if UInt64(ctrl) & TinyIOMMU.enable != 0 {
      if variant == .adopt {
        let root = try io.readq(TinyIOMMU.root)
        device.info("adopting live translation, root table at \(hex(root, digits: 9))")
        device.driverData = State(io: io, rootTable: root)
        return
      }
      if device.kernel?.isKdumpKernel == true {
        device.info("translation left on by the crashed kernel, disabling")
      } else {
        device.warn("translation left on by the previous kernel, disabling")
      }
      try io.writel(variant == .abort ? UInt32(TinyIOMMU.abort) : 0, TinyIOMMU.ctrl)
    }
    let root = try device.dmaAllocCoherent(size: UInt64(TinyIOMMU.streams) * TinyIOMMU.entrySize)
    try io.writeq(root.address, TinyIOMMU.root)
    try io.writel(UInt32(TinyIOMMU.enable | (variant == .abort ? TinyIOMMU.abort : 0)), TinyIOMMU.ctrl)
    device.info("translation enabled, root table at \(hex(root.address, digits: 9))")
    device.driverData = State(io: io, rootTable: root.address)
  }

  public func shutdown(_ device: Device) {
    guard let state = device.driverData as? State else { return }
    switch variant {
    case .kernel: try? state.io.writel(0, TinyIOMMU.ctrl)
    case .abort: try? state.io.writel(UInt32(TinyIOMMU.abort), TinyIOMMU.ctrl)
    case .leave, .adopt: break
    }
  }
}
