/// What the SMMU's `->shutdown()` leaves behind for the next kernel: the bypass-on-kexec
/// question. The handover machine enumerates these by raw value.
public enum ARMSMMUVariant: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  /// Linux 7.2: shutdown writes sCR0 = CLIENTPD, so every stream bypasses translation until the
  /// next kernel's probe resets the SMMU.
  case kernel = "kernel"
  /// The alternative raised on the list: shutdown honours `disable_bypass`. With it set, every
  /// stream map entry becomes FAULT, every SMR invalid, every context bank disabled, and sCR0
  /// keeps the client port enabled with USFCFG set, so every stream aborts; with it clear,
  /// shutdown is the kernel's.
  case abortOnShutdown = "abort-on-shutdown"
  /// `abort-on-shutdown` carried through to the next kernel's probe: with `disable_bypass` set,
  /// the RMR step sets sCR0.USFCFG instead of CLIENTPD, so the next kernel opens no global
  /// bypass window before its reset (Linux 7.2 sets CLIENTPD there unconditionally, which lets
  /// a master the old kernel did not quiesce bypass even after an aborting shutdown).
  case abort = "abort"
  /// The kernel-list proposal: shutdown keeps the client port enabled and the stream mapping,
  /// and makes every stream fault (USFCFG, every S2CR FAULT). A kernel that finds the client
  /// port enabled faults every stream before anything else (USFCFG, then one S2CR write per
  /// entry: SMMUv2 has no single write for it), skips the RMR step's CLIENTPD, and resets with
  /// every stream faulting until a device attaches.
  case kernelList = "kernel-list"

  public var description: String { rawValue }
}
