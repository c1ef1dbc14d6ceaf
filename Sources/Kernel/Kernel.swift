/// One running kernel: its context (kdump or not, command line, parameters), the clock it
/// reads and its log. A handover stops one `Kernel` and boots another on the same clock.
public final class Kernel {
  /// A label for reports: "old kernel", "kexec kernel", "crash kernel".
  public let name: String
  // Read by every driver at every step; other modules do not see `@exclusivity(unchecked)`, so
  // they read it through an inlinable accessor over unchecked storage (plain stores only: no
  // dynamic exclusivity checks needed).
  public var context: KernelContext {
    @inlinable get { uncheckedContext }
    set { uncheckedContext = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedContext: KernelContext
  public let clock: SimulatedClock
  public let log: KernelLog

  /// `keepsLog: false` boots a kernel whose printk keeps nothing (see ``KernelLog/isRecording``).
  public init(
    name: String = "kernel", context: KernelContext = KernelContext(),
    clock: SimulatedClock = SimulatedClock(), keepsLog: Bool = true
  ) {
    self.name = name
    self.uncheckedContext = context
    self.clock = clock
    // A log that keeps nothing forwards nothing either: it needs no console (whose task-local
    // lookup would cost more than the rest of the kernel's making).
    self.log = KernelLog(clock: clock, logger: keepsLog ? KernelLog.console : nil, isRecording: keepsLog)
  }

  /// `is_kdump_kernel()`.
  public var isKdumpKernel: Bool { context.isKdumpKernel }

  /// `printk` without a device prefix (`pr_info("DMAR: ...")` passes its own prefix).
  public func printk(_ level: KernelLogLevel, _ text: @autoclosure () -> String) { log.printk(level, text()) }
}
