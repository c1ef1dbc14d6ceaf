/// What the driver does at handover: Linux 7.2's choice, and the alternatives argued in the
/// v3 review of the driver (2024). A user selects one to prototype the debate.
public enum RISCVIOMMUPolicy: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  /// Linux 7.2: shutdown writes DDTP := BARE and clears the queue CSRs; init_check in a kdump
  /// kernel disables a translating IOMMU, outside kdump refuses a DDTP above BARE with -EBUSY.
  case kernel
  /// Shutdown leaves the IOMMU blocking (DDTP := OFF) before handover; init_check accepts OFF and,
  /// in a kdump kernel, treats any other mode as an error (-EBUSY).
  case blockingHandover = "blocking-handover"
  /// init_check fails with -EBUSY whenever DDTP is not OFF or BARE, kdump or not.
  case refuse
  /// The proposal from the kernel list. Shutdown leaves DDTP and the queues as they are. The next
  /// kernel, kexec'd or crash, that finds a translating DDTP stops the previous kernel's queues
  /// and writes DDTP := OFF keeping its PPN (one write that aborts every transaction: the spec
  /// leaves xLVL to xLVL unspecified, so the new directory cannot replace the old one in one
  /// write), invalidates the caches while OFF, then installs its own zeroed directory (every
  /// device context invalid) as a normal boot does.
  case kernelList = "kernel-list"

  public var description: String { rawValue }

  /// The DDTP mode `riscv_iommu_disable()` leaves behind.
  var disableMode: RISCVIOMMUDDTPMode { self == .blockingHandover ? .off : .bare }
}
