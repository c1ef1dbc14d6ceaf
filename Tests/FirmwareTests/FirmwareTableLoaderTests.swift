import Firmware
import Foundation
import Testing

@Suite("One entry point by signature; tables loaded from a directory or files")
struct FirmwareTableLoaderTests {
  /// A fresh directory under the system's temporary folder, removed by the caller.
  static func scratch() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fw-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  @Test("FirmwareTable(bytes:) dispatches on the signature and names what it cannot parse")
  func dispatch() throws {
    let dmar = try TableFixtures.bytes("DMAR_surface-pro-4_skylake.dsl")
    #expect(try FirmwareTable(bytes: dmar).dmar?.hardwareUnits.count == 2)
    #expect(try FirmwareTable(bytes: TableFixtures.bytes(IVRSTests.renoir)).ivrs?.hardwareDefinitions.count == 3)
    #expect(try FirmwareTable(bytes: TableFixtures.bytes(IORTTests.proX)).iort?.smmus.count == 2)
    #expect(throws: FirmwareError.badSignature(expected: "DMAR, IVRS, IORT", found: "APIC")) {
      try FirmwareTable(bytes: TableFixtures.table("APIC", body: []))
    }
    #expect(throws: FirmwareError.truncated(table: "ACPI table", offset: 0, needed: 4, available: 2)) {
      try FirmwareTable(bytes: [0x44, 0x4D])
    }
  }

  @Test("a directory with a binary DMAR, an iasl iort.dsl and an unreadable IVRS: each reported as such")
  func directory() throws {
    let dir = try Self.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let dmar = try TableFixtures.bytes("DMAR_surface-pro-4_skylake.dsl")
    try Data(dmar).write(to: URL(fileURLWithPath: dir + "/DMAR"))
    let dsl = TableFixtures.directory.appendingPathComponent(IORTTests.laptop7)
    try FileManager.default.copyItem(atPath: dsl.path, toPath: dir + "/iort.dsl")
    try FileManager.default.createDirectory(atPath: dir + "/IVRS", withIntermediateDirectories: false)

    let loads = FirmwareTableLoader.load(directory: dir)
    #expect(loads.map(\.signature) == ["DMAR", "IVRS", "IORT"])
    #expect(loads.map(\.path) == [dir + "/DMAR", dir + "/IVRS", dir + "/iort.dsl"])
    #expect(loads[0].table?.dmar?.hostAddressWidth == 39)
    #expect(loads[1].outcome == .unreadable(reason: "Is a directory"))
    #expect(loads[2].table?.iort?.smmuV3s.first?.smmu.baseAddress == 0x1540_0000)
  }

  @Test("missing tables, a truncated DMAR and an IVRS stored under the DMAR name")
  func missingAndMalformed() throws {
    let dir = try Self.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(
      FirmwareTableLoader.load(directory: dir).map(\.outcome) == [.missing, .missing, .missing])
    #expect(FirmwareTableLoader.load(directory: dir).first?.path == dir + "/DMAR")

    let dmar = try TableFixtures.bytes("DMAR_surface-pro-4_skylake.dsl")
    try Data(dmar.prefix(0x100)).write(to: URL(fileURLWithPath: dir + "/dmar.dat"))
    try Data(TableFixtures.bytes(IVRSTests.picasso)).write(to: URL(fileURLWithPath: dir + "/IORT"))
    let loads = FirmwareTableLoader.load(directory: dir)
    #expect(loads[0].outcome == .malformed(.badLength(table: "DMAR", headerLength: 0x138, available: 0x100)))
    #expect(loads[1].outcome == .missing)
    #expect(loads[2].outcome == .malformed(.badSignature(expected: "IORT", found: "IVRS")))
  }

  @Test("a single file: the fixtures' .dsl names load by content, a missing file is missing")
  func singleFile() throws {
    let path = TableFixtures.directory.appendingPathComponent(IVRSTests.picasso).path
    let load = FirmwareTableLoader.load(file: path)
    #expect(load.signature == "IVRS" && load.table?.ivrs?.kernelIVHDType == 0x11)
    #expect(FirmwareTableLoader.load(file: "/nonexistent/DMAR").outcome == .missing)
    let text = try String(contentsOf: TableFixtures.directory.appendingPathComponent(IORTTests.proX), encoding: .utf8)
    #expect(try FirmwareTableLoader.table(fromDisassembly: text, source: "iort.dsl").iort?.nodes.count == 0x1A)
  }

  @Test("unreadable without root: a table file with no read permission", .enabled(if: getuid() != 0))
  func permissionDenied() throws {
    let dir = try Self.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Data([0x44]).write(to: URL(fileURLWithPath: dir + "/DMAR"))
    try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: dir + "/DMAR")
    #expect(
      FirmwareTableLoader.load(directory: dir).first?.outcome
        == .unreadable(reason: "permission denied (reading ACPI tables needs root)"))
  }
}
