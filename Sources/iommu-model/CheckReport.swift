import Foundation
import IOMMUModel

/// What `check` prints for every driver: the result (0 or a negative errno), the kernel log and
/// the access trace. `--json` gives `{"result": -16, "log": [...], "trace": [...]}`.
struct CheckReport: Encodable {
  var result: Int32
  var log: [String]
  var trace: [String]
  /// Set when the path never returned (a kernel panic or hang the model reports instead of
  /// crashing): the console line. `result` is then 0, as no value was returned.
  var fatal: String?

  init(error: Errno?, log: [String], trace: [String], fatal: String? = nil) {
    result = error?.returnValue ?? 0
    self.log = log
    self.trace = trace
    self.fatal = fatal
  }

  func render(json: Bool) -> String {
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
    let name = result == 0 ? "0" : "\(Errno(rawValue: -result))"
    var out = [fatal.map { "result: fatal: \($0)" } ?? "result: \(name)", "log:"]
    out += log.isEmpty ? ["  (empty)"] : log.map { "  " + $0 }
    out.append("trace:")
    out += trace.isEmpty ? ["  (no accesses)"] : trace.map { "  " + $0 }
    return out.joined(separator: "\n")
  }
}

/// `--set REGISTER=VALUE`: a register named as the hardware model names it (or a hex offset),
/// and a value in hex (0x...) or decimal, written through the backdoor before the driver runs.
struct RegisterAssignment: CustomStringConvertible {
  var register: String
  var value: UInt64

  init(parsing text: String) throws(ValidationErrorText) {
    guard let eq = text.firstIndex(of: "=") else {
      throw ValidationErrorText("expected REGISTER=VALUE, got '\(text)'")
    }
    register = String(text[..<eq]).uppercased()
    let v = text[text.index(after: eq)...]
    let parsed = v.lowercased().hasPrefix("0x") ? UInt64(v.dropFirst(2), radix: 16) : UInt64(v)
    guard let parsed else { throw ValidationErrorText("'\(v)' is not a number (decimal or 0x hex)") }
    value = parsed
  }

  /// Pokes the value into `registers`, naming the registers it knows when the name is unknown.
  func apply(to registers: SimulatedRegisterFile) throws(ValidationErrorText) {
    let definition: SimulatedRegisterFile.Definition?
    if register.hasPrefix("0X"), let offset = Int(register.dropFirst(2), radix: 16) {
      definition = registers.definition(at: offset)
    } else {
      definition = registers.definition(named: register)
    }
    guard let d = definition else {
      let known = registers.definitions.map(\.name).joined(separator: ", ")
      throw ValidationErrorText("unknown register '\(register)'; known: \(known)")
    }
    guard value & ~d.width.valueMask == 0 else {
      throw ValidationErrorText("\(value) does not fit the \(d.width.bits)-bit register \(d.name)")
    }
    registers.poke(value, d.width, at: d.offset)
  }

  var description: String { "\(register)=\(hex(value))" }
}

/// A command-line error message (ArgumentParser prints it with the usage).
struct ValidationErrorText: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}
