import IOMMUModelTesting
import Logging
import Testing

@Suite("Errno prints as the kernel prints it")
struct ErrnoTests {
  @Test func names() {
    #expect("\(Errno.EBUSY)" == "-EBUSY")
    #expect(Errno.ENODEV.kernelErrorDescription == "error -19")
    #expect(Errno.EPROBE_DEFER.returnValue == -517)
    #expect("\(Errno(rawValue: 1234))" == "-1234")
    #expect(Errno("-ETIMEDOUT") == .ETIMEDOUT && Errno("22") == .EINVAL && Errno("EWHAT") == nil)
  }
}

@Suite("Kernel context: command line, module parameters, default domain")
struct KernelContextTests {
  @Test("module parameters come from the command line, '-' and '_' alike in names")
  func moduleParameters() {
    let ctx = KernelContext(
      commandLine: CommandLine("console=ttyS0 arm-smmu.disable_bypass=0 quiet"))
    #expect(ctx.moduleParameter("arm-smmu", "disable_bypass") == "0")
    #expect(ctx.boolParameter("arm_smmu", "disable_bypass", default: true) == false)
    #expect(ctx.boolParameter("arm-smmu", "force_stage", default: true) == true)
    #expect(ctx.commandLine.contains("quiet"))
    let direct = KernelContext(moduleParameters: ["arm-smmu.disable_bypass": "n"])
    #expect(direct.boolParameter("arm_smmu", "disable_bypass", default: true) == false)
  }

  @Test("the default domain type follows iommu.passthrough, iommu=pt and iommu.strict")
  func defaultDomain() {
    #expect(KernelContext().defaultDomainType == .dmaFQ)
    #expect(KernelContext(commandLine: CommandLine("iommu.strict=1")).defaultDomainType == .dma)
    #expect(
      KernelContext(commandLine: CommandLine("iommu.passthrough=1")).defaultDomainType == .identity)
    #expect(KernelContext(commandLine: CommandLine("iommu=pt")).defaultDomainType == .identity)
    #expect(
      KernelContext(commandLine: CommandLine("iommu=pt iommu.passthrough=0")).defaultDomainType
        == .dmaFQ)
  }

  @Test("the last value of a repeated parameter wins")
  func lastWins() {
    #expect(CommandLine("intel_iommu=off intel_iommu=on").value(of: "intel_iommu") == "on")
  }
}

@Suite("Poll with timeout advances simulated time instead of sleeping")
struct PollTests {
  @Test("a register that never acknowledges times out at once with -ETIMEDOUT, deterministically")
  func timeout() {
    let clock = SimulatedClock()
    var reads = 0
    let r = clock.readPollTimeout(
      sleepUs: 10, timeoutUs: 10_000_000,
      {
        reads += 1
        return 1
      }, until: { $0 == 0 })
    #expect(r.error == .ETIMEDOUT)
    // Turns at 0, 10, ..., 10_000_000 us (1_000_001 reads) begin before the deadline; the turn at
    // 10_000_010 us begins past it, reads once more and gives up (poll_timeout_us(), Linux 7.2).
    #expect(r.reads == reads && reads == 1_000_002)
    #expect(r.elapsedMicroseconds == 10_000_010)
    #expect(clock.microseconds == 10_000_010)
  }

  @Test("a condition that holds at the third read returns after two sleeps")
  func success() {
    let clock = SimulatedClock()
    var n = 0
    let r = clock.readPollTimeout(
      sleepUs: 1, timeoutUs: 1_000_000,
      {
        n += 1
        return n
      }, until: { $0 == 3 })
    #expect(r.error == nil && r.value == 3 && r.elapsedMicroseconds == 2)
  }

  @Test("printk timestamps")
  func timestamp() {
    let clock = SimulatedClock()
    clock.udelay(1_234_567)
    #expect(clock.printkTimestamp == "[    1.234567]")
  }
}

@Suite("The kernel log streams to a swift-log console")
struct ConsoleTests {
  /// Collects what reaches the console.
  final class Collector: @unchecked Sendable {
    var messages: [(Logger.Level, String)] = []
  }

  struct Handler: LogHandler {
    let collector: Collector
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { collector.messages.append((event.level, "\(event.message)")) }
  }

  @Test("printk lines reach the task's console with their timestamp, at the console loglevel")
  func console() {
    let collector = Collector()
    let console = Logger(label: "kernel") { _ in Handler(collector: collector) }
    let kernel = KernelLog.$console.withValue(console) { Kernel() }
    kernel.clock.udelay(1_500)
    kernel.printk(.err, "DMAR: DRHD: handling fault status reg 2")
    kernel.printk(.debug, "not shown at info")
    #expect(collector.messages.map(\.0) == [.error])
    #expect(collector.messages.map(\.1) == ["[    0.001500] DMAR: DRHD: handling fault status reg 2"])
    #expect(kernel.log.lines.count == 2)
    #expect(Kernel().log.logger == nil)
  }
}

@Suite("A kernel that keeps no log builds no printk text")
struct SilentLogTests {
  @Test("keepsLog: false records no line, forwards nothing and never evaluates the message")
  func silent() {
    let collector = ConsoleTests.Collector()
    let console = Logger(label: "kernel") { _ in ConsoleTests.Handler(collector: collector) }
    let kernel = KernelLog.$console.withValue(console) { Kernel(keepsLog: false) }
    var built = 0
    func message() -> String {
      built += 1
      return "DMAR: IOMMU enabled"
    }
    kernel.printk(.err, message())
    #expect(built == 0)
    #expect(kernel.log.lines.isEmpty)
    #expect(collector.messages.isEmpty)
    let keeping = Kernel()
    keeping.printk(.info, message())
    #expect(built == 1)
    #expect(keeping.log.lines == ["DMAR: IOMMU enabled"])
  }
}
