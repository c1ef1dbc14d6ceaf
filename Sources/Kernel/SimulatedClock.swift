/// Simulated time, in nanoseconds since the machine powered on.
///
/// Nothing in the model sleeps: `udelay`, `usleep_range` and polling loops advance this clock,
/// so a register that never acknowledges times out at once and deterministically, and the time
/// the kernel would have spent is reported.
public final class SimulatedClock {
  // Read by every poll and printk; plain stores, never held across a call: no dynamic
  // exclusivity checks. Other modules do not see `@exclusivity(unchecked)`, so they read
  // through inlinable accessors over the unchecked storage.
  public var nanoseconds: UInt64 { @inlinable get { uncheckedNanoseconds } }
  @exclusivity(unchecked) @usableFromInline var uncheckedNanoseconds: UInt64 = 0
  /// What one turn of a busy-wait loop with no delay costs (an uncached MMIO read plus
  /// `cpu_relax()`); loops such as VT-d's `IOMMU_WAIT_OP` advance time by this much per turn.
  public var busyWaitStepNanoseconds: UInt64 {
    @inlinable get { uncheckedBusyWaitStep }
    set { uncheckedBusyWaitStep = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var uncheckedBusyWaitStep: UInt64 = 1_000

  public init() {}

  /// Microseconds since power-on.
  public var microseconds: UInt64 { nanoseconds / 1_000 }

  /// `ktime_get()`.
  public func ktimeGet() -> UInt64 { nanoseconds }

  public func advance(nanoseconds ns: UInt64) { uncheckedNanoseconds &+= ns }

  /// `udelay()` / `usleep_range(min, max)` (the model always sleeps `max`).
  public func udelay(_ us: UInt64) { uncheckedNanoseconds &+= us &* 1_000 }

  /// `[    1.234567]`, the console's timestamp for the current time.
  public var printkTimestamp: String {
    let us = microseconds
    let secs = String(us / 1_000_000)
    let frac = String(us % 1_000_000)
    return "[" + String(repeating: " ", count: max(0, 5 - secs.count)) + secs + "."
      + String(repeating: "0", count: 6 - frac.count) + frac + "]"
  }
}

/// What a poll loop ended with: the last value read and `-ETIMEDOUT` if the condition never held.
public struct Polled<T> {
  public var value: T
  /// nil when the condition held; `.ETIMEDOUT` otherwise (the kernel macros' return value).
  public var error: Errno?
  /// Simulated time the loop spent, in microseconds.
  public var elapsedMicroseconds: UInt64
  /// How many times `op` ran.
  public var reads: Int

  @inlinable
  public init(value: T, error: Errno?, elapsedMicroseconds: UInt64, reads: Int) {
    self.value = value
    self.error = error
    self.elapsedMicroseconds = elapsedMicroseconds
    self.reads = reads
  }
}

extension SimulatedClock {
  /// `poll_timeout_us()` and the macros built on it (`read_poll_timeout()`,
  /// `readx_poll_timeout()`, `readl_poll_timeout()` and their `_atomic` forms), as
  /// include/linux/iopoll.h has them since v6.18 and in Linux 7.2: each turn first notes whether
  /// the deadline has passed, then runs `op` and `cond`; success wins, and a turn that began past
  /// the deadline ends in -ETIMEDOUT. Between turns the clock advances by `sleepUs`
  /// (`usleep_range()` sleeps its maximum here) or, when 0, one busy-wait step. A `timeoutUs` of
  /// 0 means no timeout, as in the kernel.
  ///
  /// `cond` runs exactly once after each `op`, as in the macro, so conditions that read
  /// registers themselves (riscv_iommu_queue_wait() reads CQCSR) leave the kernel's trace.
  // Inlinable: callers in the drivers specialise it (a generic call instantiated `Polled<T>`
  // metadata on every poll).
  @inlinable
  public func readPollTimeout<T, E: Error>(
    sleepUs: UInt64, timeoutUs: UInt64, sleepBeforeRead: Bool = false,
    _ op: () throws(E) -> T, until cond: (T) -> Bool
  ) throws(E) -> Polled<T> {
    let start = nanoseconds
    let deadline = start &+ timeoutUs &* 1_000
    let step = sleepUs > 0 ? sleepUs &* 1_000 : busyWaitStepNanoseconds
    if sleepBeforeRead && sleepUs > 0 { uncheckedNanoseconds &+= step }
    var reads = 0
    while true {
      let expired = timeoutUs != 0 && nanoseconds > deadline
      let value = try op()
      reads += 1
      let satisfied = cond(value)
      if satisfied || expired {
        return Polled(
          value: value, error: satisfied ? nil : .ETIMEDOUT,
          elapsedMicroseconds: (nanoseconds - start) / 1_000, reads: reads)
      }
      uncheckedNanoseconds &+= step
    }
  }
}
