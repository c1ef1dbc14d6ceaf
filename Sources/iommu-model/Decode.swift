import ArgumentParser
import HostState
import IOMMURegisters
import MMIO

/// `iommu-model decode`: single register values, field by field.
struct Decode: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Decode IOMMU register values field by field (VT-d CAP/ECAP, AMD EFR).",
    subcommands: [VTdCap.self, AMDEFR.self])

  struct VTdCap: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "vtd-cap",
      abstract: "Decode a VT-d CAP and ECAP pair (as in /sys/class/iommu/dmarN/intel-iommu/{cap,ecap} or dmesg).")

    @Argument(help: "CAP value in hex (0x optional).") var cap: String
    @Argument(help: "ECAP value in hex (0x optional).") var ecap: String
    @OptionGroup var output: OutputOptions

    func run() throws {
      guard let c = parseHex(cap) else { throw ValidationError("'\(cap)' is not a hex value") }
      guard let e = parseHex(ecap) else { throw ValidationError("'\(ecap)' is not a hex value") }
      try printRegisters(
        [RegisterReportView(VTdCapability(raw: c)), RegisterReportView(VTdExtendedCapability(raw: e))],
        json: output.json)
    }
  }

  struct AMDEFR: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "amd-efr",
      abstract: "Decode an AMD IOMMU Extended Feature Register (as in dmesg \"AMD-Vi: Extended features\").")

    @Argument(help: "EFR value in hex (0x optional).") var efr: String
    @OptionGroup var output: OutputOptions

    func run() throws {
      guard let v = parseHex(efr) else { throw ValidationError("'\(efr)' is not a hex value") }
      try printRegisters([RegisterReportView(AMDExtendedFeatures(raw: v))], json: output.json)
    }
  }
}

/// A register and its fields, as `decode` prints it.
struct RegisterReportView: Encodable {
  var name: String
  var raw: String
  var fields: [DecodedField]
  init<R: Register>(_ r: R) {
    name = R.name
    raw = hex(r.raw, digits: R.width.rawValue * 2)
    fields = r.decodedFields
  }
}

func parseHex(_ text: String) -> UInt64? {
  let t = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
  return UInt64(t, radix: 16)
}

func printRegisters(_ registers: [RegisterReportView], json: Bool) throws {
  if json {
    print(try JSONOutput.encode(["registers": registers]))
    return
  }
  for r in registers {
    print("\(r.name) = \(r.raw)")
    for f in r.fields {
      let bits = "[\(f.bits)]"
      print("  " + f.name.padding(8) + bits.padding(8) + " \(hex(f.value))" + (f.value > 9 ? " (\(f.value))" : ""))
    }
  }
}

extension String {
  fileprivate func padding(_ n: Int) -> String { self + String(repeating: " ", count: Swift.max(0, n - count)) }
}
