import Foundation

/// What became of one table a loader looked for.
public struct FirmwareTableLoad: Sendable, Hashable {
  public enum Outcome: Sendable, Hashable {
    case parsed(FirmwareTable)
    /// No file for the table: the machine has none (or the directory lacks it).
    case missing
    /// The file is there but could not be read (e.g. /sys/firmware/acpi/tables is root-only).
    case unreadable(reason: String)
    /// Read, but the parser refused it; the error names the table and the offset.
    case malformed(FirmwareError)
  }

  public var signature: String
  /// The file read, or the first name looked for when none was found.
  public var path: String
  public var outcome: Outcome

  public init(signature: String, path: String, outcome: Outcome) {
    self.signature = signature
    self.path = path
    self.outcome = outcome
  }

  public var table: FirmwareTable? { if case .parsed(let t) = outcome { t } else { nil } }
}

/// Reads tables as users have them: the kernel's `/sys/firmware/acpi/tables`, `acpidump -b`
/// output (`dmar.dat`), or iasl disassemblies (`dmar.dsl`, with their Raw Table Data block).
public enum FirmwareTableLoader {
  /// Where Linux exposes the firmware's ACPI tables (readable by root only).
  public static let sysfsDirectory = "/sys/firmware/acpi/tables"

  /// The file names tried for `signature` in a directory, in order: the sysfs name, acpidump's
  /// and iasl's names.
  public static func candidateNames(for signature: String) -> [String] {
    let lower = signature.lowercased()
    return [signature, "\(signature).dat", "\(lower).dat", "\(signature).dsl", "\(lower).dsl"]
  }

  /// Looks for each of `signatures` in `directory` and parses what it finds. Every signature
  /// gets an entry, so a report can say which tables are missing or unreadable.
  public static func load(
    directory: String, signatures: [String] = FirmwareTable.supportedSignatures
  ) -> [FirmwareTableLoad] {
    let fm = FileManager.default
    return signatures.map { sig in
      let paths = candidateNames(for: sig).map { (directory as NSString).appendingPathComponent($0) }
      guard let path = paths.first(where: { fm.fileExists(atPath: $0) }) else {
        return FirmwareTableLoad(signature: sig, path: paths[0], outcome: .missing)
      }
      var load = load(file: path)
      load.signature = sig
      if case .parsed(let t) = load.outcome, t.signature != sig {
        load.outcome = .malformed(.badSignature(expected: sig, found: t.signature))
      }
      return load
    }
  }

  /// Reads and parses one file: an iasl disassembly when it holds a "Raw Table Data" block,
  /// raw binary otherwise. The signature reported is the file's own (or its name's when unreadable).
  public static func load(file path: String) -> FirmwareTableLoad {
    let name = (path as NSString).lastPathComponent
    let guess = String(name.prefix(4)).uppercased()
    guard FileManager.default.fileExists(atPath: path) else {
      return FirmwareTableLoad(signature: guess, path: path, outcome: .missing)
    }
    let bytes: [UInt8]
    do {
      bytes = try read(path)
    } catch {
      return FirmwareTableLoad(signature: guess, path: path, outcome: .unreadable(reason: describe(error)))
    }
    do throws(FirmwareError) {
      let tableBytes = try isDisassembly(bytes) ? disassembly(bytes, source: name) : bytes
      let table = try FirmwareTable(bytes: tableBytes)
      return FirmwareTableLoad(signature: table.signature, path: path, outcome: .parsed(table))
    } catch {
      return FirmwareTableLoad(signature: guess, path: path, outcome: .malformed(error))
    }
  }

  /// Parses an iasl `.dsl` text's Raw Table Data block.
  public static func table(fromDisassembly text: String, source: String) throws(FirmwareError) -> FirmwareTable {
    try FirmwareTable(bytes: ACPITableSource.bytes(fromDisassembly: text, source: source))
  }

  private static func isDisassembly(_ bytes: [UInt8]) -> Bool {
    // A binary table starts with its signature; anything else may be iasl text.
    if bytes.count >= 4, FirmwareTable.supportedSignatures.contains(String(decoding: bytes[0..<4], as: UTF8.self)) {
      return false
    }
    return String(decoding: bytes, as: UTF8.self).contains("Raw Table Data")
  }

  private static func disassembly(_ bytes: [UInt8], source: String) throws(FirmwareError) -> [UInt8] {
    try ACPITableSource.bytes(fromDisassembly: String(decoding: bytes, as: UTF8.self), source: source)
  }

  /// Reads to the end rather than trusting the file size (sysfs files may report another).
  private static func read(_ path: String) throws -> [UInt8] {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      let denied = !FileManager.default.isReadableFile(atPath: path)
      throw LoadFailure(reason: denied ? "permission denied (reading ACPI tables needs root)" : "cannot open")
    }
    defer { try? handle.close() }
    return [UInt8](try handle.readToEnd() ?? Data())
  }

  private struct LoadFailure: Error { var reason: String }

  private static func describe(_ error: any Error) -> String {
    if let failure = error as? LoadFailure { return failure.reason }
    let ns = error as NSError
    if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
      return String(cString: strerror(Int32(posix.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    return ns.localizedDescription
  }
}
