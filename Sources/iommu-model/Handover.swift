import ArgumentParser
import Foundation
import IOMMUModel
import MachineTesting

/// `iommu-model handover`: runs kexec or kdump handovers on the modelled machine.
struct Handover: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a kexec or kdump handover on the modelled machine, or the whole policy matrix.",
    discussion: """
      Clients: a comma-separated list of nic, storage, accelerator (or accel), each optionally
      followed by :q (its driver's shutdown quiesces it) or :u (no shutdown callback, the
      default). Variants are the driver's policies, kernel first, plus kernel-list where the
      adapter supports the proposal. The tiny test IOMMU is available as --iommu tiny.
      """)

  @Option(help: "The IOMMU: \(HandoverCatalog.names.joined(separator: ", ")).")
  var iommu: [String] = []

  @Option(help: "kexec or kdump.")
  var scenario: String?

  @Option(help: "The driver's policy variant for shutdown and boot (default: kernel).")
  var variant = "kernel"

  @Option(help: "The clients, e.g. nic,storage:q,accel.")
  var clients = "nic,storage,accelerator"

  @Flag(help: "Run every combination of IOMMU, scenario, variant and client quiescing.")
  var matrix = false

  @Flag(help: "Print JSON instead of text.")
  var json = false

  @Flag(help: "With --matrix: print a Markdown table.")
  var markdown = false

  @Option(help: "With --matrix: also write the matrix as an SVG heat map to this file.")
  var svg: String?

  @Flag(help: "Run the whole matrix repeatedly and print handovers per second.")
  var bench = false

  @Option(help: "With --bench: minimum seconds to measure.")
  var seconds = 2.0

  @Flag(help: "List the IOMMUs and their variants.")
  var list = false

  func validate() throws {
    for name in iommu where HandoverCatalog.make(name) == nil {
      throw ValidationError(
        "unknown IOMMU '\(name)'; known: \(HandoverCatalog.names.joined(separator: ", "))")
    }
    if !matrix && !bench && !list {
      guard iommu.count >= 1 else { throw ValidationError("--iommu NAME is required (or --matrix)") }
      guard let s = scenario, HandoverScenario(rawValue: s) != nil else {
        throw ValidationError("--scenario kexec|kdump is required")
      }
    }
    if json && markdown { throw ValidationError("--json and --markdown exclude each other") }
    do { _ = try ClientSpec.parse(clients) } catch { throw ValidationError(error.description) }
    guard !matrix && !bench && !list else { return }
    for a in iommu.compactMap({ HandoverCatalog.make($0) }) where !Self.offers(a, variant) {
      var known = a.variants
      if a.kernelList != nil { known.append(Machine.kernelListPolicy) }
      throw ValidationError("\(a.name) has no variant '\(variant)'; known: \(known.joined(separator: ", "))")
    }
  }

  /// Whether `adapter` offers `variant` (a driver variant, or the kernel-list policy).
  static func offers(_ adapter: any HandoverIOMMU, _ variant: String) -> Bool {
    adapter.variants.contains(variant) || (variant == Machine.kernelListPolicy && adapter.kernelList != nil)
  }

  func run() throws {
    if list {
      for name in HandoverCatalog.names {
        guard let a = HandoverCatalog.make(name) else { continue }
        var v = a.variants
        if a.kernelList != nil { v.append(Machine.kernelListPolicy) }
        print("\(name): \(v.joined(separator: ", "))")
      }
      return
    }
    let names = iommu.isEmpty ? HandoverCatalog.matrixNames : iommu
    if bench { return try runBench(names) }
    if matrix { return try runMatrix(names) }
    let specs = (try? ClientSpec.parse(clients)) ?? ClientSpec.defaults
    let adapters = names.compactMap { HandoverCatalog.make($0) }
    let machine = Machine(iommus: adapters.map { ($0, variant) }, clients: specs)
    let outcome: HandoverOutcome
    do { outcome = try machine.runHandover(HandoverScenario(rawValue: scenario ?? "kexec") ?? .kexec) } catch {
      throw ValidationError(error.description)
    }
    print(json ? HandoverRender.json(outcome) : HandoverRender.text(outcome))
  }

  private func runMatrix(_ names: [String]) throws {
    let m = HandoverMatrix(adapters: names.compactMap { n in HandoverCatalog.factory(n) })
    let (rows, errors) = m.run()
    for e in errors { FileHandle.standardError.write(Data("warning: \(e)\n".utf8)) }
    if json {
      print(HandoverRender.json(rows))
    } else if markdown {
      print(HandoverRender.markdown(rows))
    } else {
      print(HandoverRender.table(rows))
    }
    if let svg {
      try HandoverSVG.render(rows).write(toFile: svg, atomically: true, encoding: .utf8)
    }
  }

  private func runBench(_ names: [String]) throws {
    let m = HandoverMatrix(adapters: names.compactMap { n in HandoverCatalog.factory(n) })
    let perRound = m.combinations.count
    var rounds = 0
    let start = ContinuousClock.now
    let cpuStart = clock()
    var elapsed = 0.0
    repeat {
      _ = m.run()
      rounds += 1
      elapsed = (ContinuousClock.now - start).seconds
    } while elapsed < seconds
    // CPU time of this (single-threaded) process: the figure for one core, whatever else runs.
    let cpu = Double(clock() - cpuStart) / Double(CLOCKS_PER_SEC)
    let handovers = Double(rounds * perRound)
    let rate = handovers / cpu
    print(
      "handover matrix (\(names.joined(separator: ", "))): \(perRound) handovers a round, \(rounds) rounds, "
        + "\(String(format: "%.2f", cpu)) s CPU in \(String(format: "%.2f", elapsed)) s wall")
    print("handovers/s on one core: \(Int(rate)) (wall clock: \(Int(handovers / elapsed)))")
    print("target: >= 10000/s on one core, release build: \(rate >= 10_000 ? "met" : "NOT met")")
  }
}

/// The IOMMUs the command knows: the real adapters, then the tiny test IOMMU.
enum HandoverCatalog {
  static var names: [String] { HandoverAdapters.all.map(\.name) + ["tiny"] }
  /// The matrix covers the real IOMMUs; the tiny one only when there is none or it is asked for.
  static var matrixNames: [String] { HandoverAdapters.all.isEmpty ? ["tiny"] : HandoverAdapters.all.map(\.name) }

  static func factory(_ name: String) -> (() -> any HandoverIOMMU)? {
    if name == "tiny" { return { TinyIOMMUAdapter() } }
    return HandoverAdapters.all.first { $0.name == name }?.make
  }

  static func make(_ name: String) -> (any HandoverIOMMU)? { factory(name)?() }
}
