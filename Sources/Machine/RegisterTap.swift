import MMIO

/// The IOMMU's register block as the machine wires it to a driver: accesses pass straight
/// through, and every write tells the machine, which samples DMA after writes that can change
/// routing and counts writes per register for the timeline.
final class RegisterTap: WritableRegisterIO {
  let base: any WritableRegisterIO
  /// The base when it is a register file (every adapter's but VT-d's): accessed directly, its
  /// inlinable accessors run here instead of through the existential's witness table. Not
  /// retained (a strong reference is retained and released around every access): `base` holds
  /// the same object for the tap's whole life.
  let file: Unmanaged<SimulatedRegisterFile>?
  /// The hardware's register file, which names the registers.
  let names: SimulatedRegisterFile
  /// A handful of offsets: a scan is cheaper than hashing on every write.
  let controlRegisters: [Int]
  /// The bytes [controlLow, controlHigh) hold every control register and the qword after it:
  /// a write outside them (most writes) is answered without a scan.
  let controlLow: Int
  let controlHigh: Int
  // The machine and its IOMMU, called directly on every write: no closure context, and, used
  // through `_withUnsafeGuaranteedRef`, no reference counted per write (an unowned reference,
  // even unowned(unsafe), is retained and released around each call). Not retained: the tap
  // would close a cycle (machine -> kernels -> devices -> tap). Safe: a tap is reachable only
  // from the devices and drivers of this machine's kernels, which the machine owns
  // (`kernels`), and only a running machine's kernels access registers.
  let machine: Unmanaged<Machine>
  let iommu: Unmanaged<MachineIOMMU>
  /// The base's size and widths (a register block's never change), read on every checked
  /// access: kept here instead of asked through the existential each time.
  let size: Int
  let supportedWidths: AccessWidths

  init(
    _ base: any WritableRegisterIO, names: SimulatedRegisterFile, controlRegisters: [Int],
    machine: Machine, iommu: MachineIOMMU
  ) {
    self.base = base
    file = (base as? SimulatedRegisterFile).map { .passUnretained($0) }
    self.names = names
    self.controlRegisters = controlRegisters
    controlLow = controlRegisters.min() ?? 0
    controlHigh = (controlRegisters.max() ?? 0) + 8
    self.machine = .passUnretained(machine)
    self.iommu = .passUnretained(iommu)
    size = base.size
    supportedWidths = base.supportedWidths
  }

  func uncheckedRead(_ width: AccessWidth, at offset: Int) throws(IOError) -> UInt64 {
    if let file {
      // `_withUnsafeGuaranteedRef` rethrows untyped errors: the typed one is carried out.
      let read: Result<UInt64, IOError> = file._withUnsafeGuaranteedRef { f in
        do throws(IOError) { return .success(try f.uncheckedRead(width, at: offset)) } catch { return .failure(error) }
      }
      return try read.get()
    }
    return try base.uncheckedRead(width, at: offset)
  }

  func uncheckedWrite(_ value: UInt64, _ width: AccessWidth, at offset: Int) throws(IOError) {
    if let file {
      let failure: IOError? = file._withUnsafeGuaranteedRef { f in
        do throws(IOError) { try f.uncheckedWrite(value, width, at: offset) } catch { return error }
        return nil
      }
      if let failure { throw failure }
    } else {
      try base.uncheckedWrite(value, width, at: offset)
    }
    // The range test inline: most writes land outside every control register.
    let sample =
      controlRegisters.isEmpty
      || (offset >= controlLow && offset < controlHigh && isControlRegisterWrite(at: offset))
    machine._withUnsafeGuaranteedRef { machine in
      if machine.options.recordTimeline {
        machine.noteRegisterWrite(
          iommu: iommu.takeUnretainedValue(), offset: names.registerOffset(at: offset) ?? offset)
      }
      if sample { machine.sampleDMA() }
    }
  }

  /// Whether a write at `offset` lands in one of the control registers. The register file's
  /// lookup (a per-byte table as large as the block, a cache miss on most writes) is asked
  /// only for an offset within a qword after a control register: no register is wider.
  private func isControlRegisterWrite(at offset: Int) -> Bool {
    for control in controlRegisters where offset >= control && offset - control < 8 {
      if (names.registerOffset(at: offset) ?? offset) == control { return true }
    }
    return false
  }
}
