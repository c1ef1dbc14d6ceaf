import Foundation
import HostState
import Testing

/// The machine the tests run on. The build machine has virtio functions and no IOMMU; the
/// expectations are derived from what sysfs itself lists, so they hold on any Linux host.
@Suite("The live host, read-only")
struct LiveHostTests {
  static let sysfsListing =
    (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices"))?.sorted() ?? []

  @Test(
    "libpci finds every function sysfs lists, sorted by address, with sysfs's vendor IDs",
    .enabled(if: !sysfsListing.isEmpty))
  func functions() throws {
    let functions = try LibPCI.scan(.sysfs(root: "/sys"))
    #expect(functions.map(\.address.description) == Self.sysfsListing)
    for f in functions {
      let vendor = try String(contentsOfFile: "/sys/bus/pci/devices/\(f.address)/vendor", encoding: .utf8)
      #expect(f.vendorID.map { "0x" + String($0, radix: 16, uppercase: false).leftPadded(4) } == vendor.trimmed)
      // Root reads the whole space; anyone else 64 bytes. Never nothing.
      #expect(f.config.bytesRead >= 64)
    }
  }

  @Test("the report's verdict agrees with sysfs: no IOMMU here means the report says so first")
  func verdict() {
    let report = HostReport.collect(HostSources())
    let units = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/iommu")) ?? []
    let groups = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/iommu_groups")) ?? []
    let tables = ["DMAR", "IVRS", "IORT"].filter {
      FileManager.default.fileExists(atPath: "/sys/firmware/acpi/tables/" + $0)
    }
    #expect(report.iommus.map(\.name) == units.sorted())
    #expect(report.groups.count == groups.count)
    if units.isEmpty && groups.isEmpty && tables.isEmpty && report.pci.functions.allSatisfy({ $0.iommu == nil }) {
      #expect(report.verdict.state == "no-iommu")
      #expect(report.warnings.first?.kind == "no-iommu")
      #expect(report.text.hasPrefix("IOMMU state: no-iommu"))
    } else {
      #expect(report.verdict.state != "no-iommu")
    }
    #expect(report.pci.error == nil)
    #expect(report.pci.functions.count == Self.sysfsListing.count)
  }

  @Test(
    "virtio functions on this machine are bound to virtio-pci, as their driver links say",
    .enabled(
      if: sysfsListing.contains {
        (try? String(contentsOfFile: "/sys/bus/pci/devices/\($0)/vendor", encoding: .utf8))?.hasPrefix("0x1af4") == true
      }))
  func virtio() {
    let report = HostReport.collect(HostSources())
    let virtio = report.pci.functions.filter { $0.vendor == "1af4" }
    #expect(!virtio.isEmpty)
    for f in virtio {
      let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/bus/pci/devices/\(f.address)/driver")
      #expect(f.driver == link.map { ($0 as NSString).lastPathComponent })
      #expect(f.iommu == nil && f.iommuGroup == nil)
    }
  }
}

extension String {
  var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
  func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
