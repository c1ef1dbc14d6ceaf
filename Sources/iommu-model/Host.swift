import ArgumentParser
import HostState

/// `iommu-model host`: the real host's IOMMU state, read-only, through libpci, sysfs, procfs
/// and the ACPI tables, or from captured copies of them.
struct Host: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Report the host's IOMMUs, groups, PCI functions and firmware tables (read-only).",
    discussion: """
      Nothing is written to the hardware. Without root, config space beyond 64 bytes and the
      ACPI tables cannot be read; the report says what needs root instead of guessing.
      """)

  @OptionGroup var output: OutputOptions

  @Option(name: .customLong("pci-dump"), help: "Read PCI config space from lspci -x/-xxx/-xxxx output (like lspci -F).")
  var pciDump: String?

  @Option(name: .customLong("sysfs-root"), help: "The sysfs root to read (default /sys).")
  var sysfsRoot: String?

  @Option(
    name: .customLong("acpi-tables"), help: "Directory with DMAR/IVRS/IORT (default <sysfs-root>/firmware/acpi/tables)."
  )
  var acpiTables: String?

  @Option(name: .customLong("proc-root"), help: "The procfs root to read (default /proc).")
  var procRoot = "/proc"

  func run() throws {
    let report = HostReport.collect(
      HostSources(
        sysfsRoot: sysfsRoot ?? "/sys", procRoot: procRoot, acpiTables: acpiTables, pciDump: pciDump,
        // A dump read beside this machine's /sys must not borrow its drivers and groups.
        pciLinksFromSysfs: pciDump == nil || sysfsRoot != nil))
    print(output.json ? try JSONOutput.encode(report) : report.text)
  }
}
