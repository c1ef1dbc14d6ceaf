import Foundation

/// Where this repository's fixtures and the shared reference data lie, found from this source
/// file's path so tests work from any working directory.
public enum RepositoryPaths {
  /// The package root (the folder holding Package.swift).
  public static let root: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  /// `Tests/Fixtures`.
  public static let fixtures = root.appendingPathComponent("Tests/Fixtures")
  /// `../shared`, beside the checkout: the reference traces and real firmware tables.
  public static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

  /// The text of a file, with an error that names it.
  public static func text(_ url: URL) throws -> String {
    try String(contentsOf: url, encoding: .utf8)
  }
}
