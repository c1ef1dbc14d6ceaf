import MMIO

/// The IOMMU's register block as the machine wires it to a driver: accesses pass straight
/// through, and every write tells the machine, which samples DMA after writes that can change
/// routing and counts writes per register for the timeline.
final class RegisterTap: WritableRegisterIO {
  let base: any WritableRegisterIO
  /// The hardware's register file, which names the registers.
  let names: SimulatedRegisterFile
  /// A handful of offsets: a scan is cheaper than hashing on every write.
  let controlRegisters: [Int]
  let onWrite: (_ offset: Int, _ sampleDMA: Bool) -> Void

  init(
    _ base: any WritableRegisterIO, names: SimulatedRegisterFile, controlRegisters: Set<Int>,
    onWrite: @escaping (_ offset: Int, _ sampleDMA: Bool) -> Void
  ) {
    self.base = base
    self.names = names
    self.controlRegisters = controlRegisters.sorted()
    self.onWrite = onWrite
  }

  var size: Int { base.size }
  var supportedWidths: AccessWidths { base.supportedWidths }

  func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    try base.uncheckedRead(width, at: offset)
  }

  func uncheckedWrite(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError) {
    try base.uncheckedWrite(value, width, at: offset)
    let register = names.registerOffset(at: offset) ?? offset
    onWrite(register, controlRegisters.isEmpty || controlRegisters.contains(register))
  }
}
