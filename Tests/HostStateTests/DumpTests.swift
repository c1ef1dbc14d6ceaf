import Foundation
import HostState
import PCI
import Testing

/// lspci itself, when installed, as the oracle for which capabilities a dump holds.
enum LSPCI {
  static let path = ["/usr/bin/lspci", "/usr/sbin/lspci", "/bin/lspci"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  /// `address -> ["40", "100", "<access denied>"]` from `lspci -F dump -vv`.
  static func capabilityOffsets(_ dump: String) throws -> [String: [String]] {
    guard let path else { return [:] }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = ["-F", dump, "-vv", "-n"]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = Pipe()
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    var out: [String: [String]] = [:]
    var current = ""
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
      if !line.hasPrefix("\t"), let address = line.split(separator: " ").first {
        current = address.count == 7 ? "0000:" + address : String(address)
        out[current] = []
      } else if line.hasPrefix("\tCapabilities: ") {
        let rest = line.dropFirst("\tCapabilities: ".count)
        if rest.hasPrefix("<access denied>") {
          out[current, default: []].append("<access denied>")
        } else if rest.hasPrefix("["), let end = rest.firstIndex(of: "]") {
          out[current, default: []].append(
            String(rest[rest.index(after: rest.startIndex)..<end].split(separator: " ")[0]))
        }
      }
    }
    return out
  }
}

@Suite("PCI dumps through libpci's dump method")
struct DumpTests {
  static let dumps = [
    HostFixtures.pciutils + "/tree-fujitsu-p8010.lspci", HostFixtures.pciutils + "/cap-ht.lspci",
    HostFixtures.dumps + "/riscv-iommu-pci.lspci", HostFixtures.dumps + "/root-port-acs.lspci",
    HostFixtures.dumps + "/amd-iommu-64-bytes.lspci", HostFixtures.dumps + "/amd-iommu-zen1.lspci",
  ]

  @Test(
    "every capability lspci -vv lists is found at the same offset, for every fixture dump",
    .enabled(if: LSPCI.path != nil), arguments: dumps)
  func matchesLSPCI(dump: String) throws {
    let expected = try LSPCI.capabilityOffsets(dump)
    let report = HostFixtures.report(dump: dump)
    #expect(report.pci.functions.map(\.address) == expected.keys.sorted())
    for f in report.pci.functions {
      let ours = f.capabilities.map { String($0.offset.dropFirst(2).drop { $0 == "0" }) }
      let theirs = (expected[f.address] ?? []).filter { $0 != "<access denied>" }
      #expect(ours == theirs, "\(f.address)")
      if expected[f.address]?.contains("<access denied>") == true {
        #expect(f.capabilityList.hasPrefix("not-captured"), "\(f.address)")
      }
    }
  }

  @Test("pciutils' Fujitsu P8010 dump: 22 functions sorted, the root ports are PCI Express root ports")
  func fujitsu() throws {
    let functions = try LibPCI.scan(.dump(path: HostFixtures.pciutils + "/tree-fujitsu-p8010.lspci"))
    #expect(functions.count == 22)
    #expect(functions.map(\.address) == functions.map(\.address).sorted())
    let report = HostFixtures.report(dump: HostFixtures.pciutils + "/tree-fujitsu-p8010.lspci")
    let port = try #require(report.pci.functions.first { $0.address == "0000:00:1c.0" })
    #expect(port.register("PCI Express", "PCIe Capabilities")["DevicePortType"] == 4)
    #expect(report.verdict.state == "no-iommu")
  }

  @Test("a RISC-V IOMMU PCI function is recognised by the riscv driver's ID table")
  func riscv() throws {
    let report = HostFixtures.report(dump: HostFixtures.dumps + "/riscv-iommu-pci.lspci")
    let f = try #require(report.pci.functions.first)
    #expect(f.iommu?.kind == "riscv-iommu-pci")
    #expect(f.class == "0806" && f.vendor == "1b36" && f.device == "0014")
    #expect(f.register("MSI-X", "MSI-X Message Control")["TableSize"] == 31)
    #expect(f.extendedCapabilityList == "absent" && f.unknown.isEmpty)
    // Hardware evidence without a kernel that took it.
    #expect(report.verdict.state == "present-not-enabled")
    #expect(report.warnings.first?.kind == "iommu-not-enabled")
  }

  @Test("a root port's ACS and an endpoint's ATS, PRI and PASID decode field by field")
  func acsAndFriends() throws {
    let report = HostFixtures.report(dump: HostFixtures.dumps + "/root-port-acs.lspci")
    let port = try #require(report.pci.functions.first { $0.address == "0000:00:1c.0" })
    #expect(port.register("Access Control Services", "ACS Capability")["SrcValid"] == 1)
    #expect(port.register("Access Control Services", "ACS Control")["TransBlk"] == 0)
    #expect(port.register("Access Control Services", "ACS Control")["ReqRedir"] == 1)
    let ep = try #require(report.pci.functions.first { $0.address == "0000:01:00.0" })
    #expect(ep.register("Address Translation Service", "ATS Control")["Enable"] == 1)
    #expect(ep.register("Page Request Interface", "PRI Status")["Stopped"] == 1)
    #expect(ep.register("Process Address Space ID", "PASID Capability")["MaxPASIDWidth"] == 20)
    #expect(report.warnings.isEmpty == false && report.warnings.allSatisfy { $0.kind == "no-iommu" })
  }

  @Test("a 64-byte dump: the AMD IOMMU is recognised by class, its capabilities are 'not captured', never absent")
  func shortDump() throws {
    let report = HostFixtures.report(dump: HostFixtures.dumps + "/amd-iommu-64-bytes.lspci")
    let iommu = try #require(report.pci.functions.first { $0.address == "0000:00:00.2" })
    #expect(iommu.configBytes == 64)
    #expect(iommu.iommu?.kind == "amd-iommu")
    #expect(iommu.capabilities.isEmpty)
    #expect(iommu.capabilityList == "not-captured (from 0x40)")
    #expect(iommu.unknown.contains { $0.hasPrefix("ACS, ATS, PRI, PASID: not captured") })
    let warning = try #require(report.warnings.first { $0.kind == "not-captured" })
    #expect(warning.message.contains("0000:00:00.2") && !warning.message.contains("0000:00:00.0"))
  }

  @Test("present but not enabled: a command line that asks for the IOMMU off is named as the likely reason")
  func offByCommandLine() throws {
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "ro amd_iommu=off iommu=pt\n".write(toFile: dir + "/cmdline", atomically: true, encoding: .utf8)
    let report = HostFixtures.report(proc: dir, dump: HostFixtures.dumps + "/amd-iommu-zen1.lspci")
    #expect(report.verdict.state == "present-not-enabled")
    #expect(report.verdict.summary.hasSuffix("; the command line asks for it off (amd_iommu=off)"))
    #expect(
      report.kernel.commandLineIntent.parameters.map(\.meaning) == [
        "disable the AMD IOMMU driver", "identity (passthrough) default domain: DMA is not translated",
      ])
  }

  @Test("the Zen 1 IOMMU is recognised by its IOMMU capability (ID 0x0F, type 3)")
  func zen1() throws {
    let f = try #require(HostFixtures.report(dump: HostFixtures.dumps + "/amd-iommu-zen1.lspci").pci.functions.first)
    #expect(f.iommu?.reason.hasPrefix("AMD IOMMU capability") == true)
    #expect(f.register("Secure Device (AMD IOMMU)", "IOMMU Miscellaneous Information 0")["PAsize"] == 48)
  }

  @Test("libpci's fatal errors become Swift errors: a missing file, an over-long line, an offset past 4096")
  func errors() throws {
    #expect(throws: LibPCIError.self) { try LibPCI.scan(.dump(path: "/nonexistent/dump")) }
    let dir = try HostFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let long = dir + "/long.lspci"
    try ("00:00.0 x\n00: " + String(repeating: "00 ", count: 200) + "\n").write(
      toFile: long, atomically: true, encoding: .utf8)
    #expect(throws: LibPCIError.self) { try LibPCI.scan(.dump(path: long)) }
    let far = dir + "/far.lspci"
    try "00:00.0 x\n1000: 00 00\n".write(toFile: far, atomically: true, encoding: .utf8)
    #expect(throws: LibPCIError.self) { try LibPCI.scan(.dump(path: far)) }
    // The report goes on without PCI and says why.
    let report = HostFixtures.report(dump: far)
    #expect(report.pci.error != nil && report.warnings.contains { $0.kind == "pci-error" })
  }
}
