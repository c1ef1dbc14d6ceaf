import Foundation
import Machine
import MachineTesting
import SimulatedHardware
import Testing

@Suite("The policy matrix and client specs")
struct MatrixTests {
  @Test("one row per scenario, variant (kernel-list included) and way of quiescing the clients")
  func rows() {
    let matrix = HandoverMatrix(adapters: [{ TinyIOMMUAdapter() }])
    let (rows, errors) = matrix.run()
    #expect(errors.isEmpty)
    #expect(rows.count == 2 * 4 * 8)
    #expect(Set(rows.map(\.variant)) == ["kernel", "abort", "leave", "kernel-list"])
    // Fully quiesced rows are clean whatever the policy, in kexec.
    let clean = rows.filter { $0.scenario == "kexec" && $0.clients == "nic:q,storage:q,accelerator:q" }
    #expect(clean.count == 4)
    #expect(clean.allSatisfy { $0.corruptedNewKernelBytes == 0 && $0.devicesRecovered == 3 })
  }

  @Test("each row's JSON keys are exactly the issue's columns")
  func jsonKeys() throws {
    let row = try runHandover(adapter: TinyIOMMUAdapter(), scenario: .kexec).row
    let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(row)) as? [String: Any]
    #expect(Set(object?.keys.map { $0 } ?? []) == Set(MatrixRow.columns))
    #expect(row.values.count == MatrixRow.columns.count)
  }

  @Test("client specs: kinds with :q or :u, accel as a short name; unknown kinds are named")
  func parse() throws {
    let specs = try ClientSpec.parse("nic,storage:q,accel:unquiesced")
    #expect(specs.specText == "nic:u,storage:q,accelerator:u")
    #expect(throws: HandoverError.self) { try ClientSpec.parse("gpu") }
    #expect(throws: HandoverError.self) { try ClientSpec.parse("nic:maybe") }
    #expect(
      ClientSpec.quiescingCombinations(of: [.nic, .storage]).map(\.specText) == [
        "nic:u,storage:u", "nic:q,storage:u", "nic:u,storage:q", "nic:q,storage:q",
      ])
  }

  @Test("the timeline names the stages, summarises register writes and accounts DMA")
  func timeline() throws {
    let o = try runHandover(adapter: TinyIOMMUAdapter(), scenario: .kexec, clients: ClientSpec.parse("nic"))
    let text = o.timeline.map(\.text)
    #expect(text.contains("-- device_shutdown()"))
    #expect(text.contains("1 register writes: CTRL×1"))
    #expect(text.contains { $0.hasPrefix("-- next kernel: IOMMU probe") })
    #expect(o.timeline.contains { $0.actor == "DMA" && $0.text.contains("bypassed") })
  }
}

/// One fresh adapter of each IOMMU, the tiny test one included.
func everyAdapter() -> [any HandoverIOMMU] {
  [TinyIOMMUAdapter(), ARMSMMUAdapter(), ARMSMMUv3Adapter(), IntelIOMMUAdapter(), RISCVIOMMUAdapter()]
}

@Suite("Reusing a machine's silicon")
struct RigReuseTests {
  @Test("a handover on memory and hardware powered on again gives the same row as on fresh ones, for every IOMMU")
  func sameOutcome() throws {
    for adapter in everyAdapter() {
      for scenario in HandoverScenario.allCases {
        let fresh = try runHandover(adapter: adapter, scenario: scenario)
        var rig = try runHandoverKeepingRig(adapter: adapter, scenario: .kdump).rig
        rig = try runHandoverKeepingRig(adapter: adapter, scenario: .kexec, rig: rig).rig
        let again = try runHandover(adapter: adapter, scenario: scenario, rig: rig)
        #expect(again.row == fresh.row, "\(adapter.name) \(scenario)")
      }
    }
  }
}

@Suite("The matrix's kernels keep no log")
struct SilentKernelTests {
  @Test("a handover whose kernels keep no log gives the same row, with no log line in its timeline, for every IOMMU")
  func sameRow() throws {
    var silent = MachineOptions()
    silent.keepKernelLogs = false
    #expect(HandoverMatrix(adapters: []).options.keepKernelLogs == false)
    for adapter in everyAdapter() {
      for scenario in HandoverScenario.allCases {
        let logged = try runHandover(adapter: adapter, scenario: scenario)
        let quiet = try runHandover(adapter: adapter, scenario: scenario, options: silent)
        #expect(quiet.row == logged.row, "\(adapter.name) \(scenario)")
        // Kernel log lines reach the timeline under the kernel's name.
        let printed = { (o: HandoverOutcome) in o.timeline.filter { $0.actor.hasSuffix("kernel") }.count }
        #expect(printed(logged) > 0, "\(adapter.name) \(scenario)")
        #expect(printed(quiet) == 0, "\(adapter.name) \(scenario)")
      }
    }
  }
}

@Suite("A handover frees what it built")
struct HandoverLifetimeTests {
  /// Weak references to what a handover builds: nil once the machine is gone.
  final class Watch {
    weak var machine: Machine?
    var kernels: [Weak] = []
    var hardware: [Weak] = []
    struct Weak {
      weak var object: AnyObject?
    }
  }

  @Test(
    "the machine, its kernels, driver cores, devices, drivers and hardware are freed with it, for every IOMMU and variant"
  )
  func freed() throws {
    for adapter in everyAdapter() {
      let variants = adapter.variants + (adapter.kernelList == nil ? [] : [Machine.kernelListPolicy])
      for scenario in HandoverScenario.allCases {
        for variant in variants {
          for clients in ClientSpec.quiescingCombinations(of: ClientKind.allCases) {
            for options in [MachineOptions(), HandoverMatrix(adapters: []).options] {
              let watch = Watch()
              do {
                let machine = Machine(adapter: adapter, variant: variant, clients: clients, options: options)
                _ = try machine.runHandover(scenario)
                watch.machine = machine
                for (kernel, core) in machine.kernels {
                  watch.kernels += [.init(object: kernel), .init(object: core)]
                  watch.kernels += core.devices.map { .init(object: $0) } + core.drivers.map { .init(object: $0) }
                }
                watch.hardware = machine.iommus.map { .init(object: $0.hardware as AnyObject) }
              }
              #expect(watch.machine == nil, "\(adapter.name) \(scenario) \(variant): machine")
              #expect(
                watch.kernels.allSatisfy { $0.object == nil },
                "\(adapter.name) \(scenario) \(variant): kernels, driver cores, devices and drivers")
              #expect(
                watch.hardware.allSatisfy { $0.object == nil }, "\(adapter.name) \(scenario) \(variant): hardware")
            }
          }
        }
      }
    }
  }
}

extension HandoverLifetimeTests {
  @Test("a rig powered on again holds nothing of the handovers run on it, for every IOMMU")
  func rigKeepsNoKernel() throws {
    for adapter in everyAdapter() {
      let options = HandoverMatrix(adapters: []).options
      var rig: MachineRig?
      var kernels: [Watch.Weak] = []
      for scenario in HandoverScenario.allCases {
        let machine = Machine(adapter: adapter, clients: ClientSpec.defaults, options: options, rig: rig)
        _ = try machine.runHandover(scenario)
        rig = machine.rig
        for (kernel, core) in machine.kernels {
          kernels += [.init(object: kernel), .init(object: core)]
          kernels += core.devices.map { .init(object: $0) } + core.drivers.map { .init(object: $0) }
        }
      }
      #expect(rig != nil)
      #expect(kernels.allSatisfy { $0.object == nil }, "\(adapter.name)")
    }
  }
}

extension HandoverLifetimeTests {
  @Test("a power-on reset forgets the commands and faults the unit saw, for every IOMMU")
  func powerOnResetForgets() throws {
    for adapter in everyAdapter() {
      let machine = Machine(adapter: adapter, clients: ClientSpec.defaults)
      _ = try machine.runHandover(.kexec)
      let hardware = machine.iommus[0].hardware
      hardware.powerOnReset()
      #expect(adapter.recordedFaults(hardware) == 0, "\(adapter.name)")
      if let smmu = hardware as? SMMUv3 {
        #expect(smmu.consumedCommands.isEmpty && smmu.events.isEmpty && smmu.syncInterrupts == 0)
      }
      if let riscv = hardware as? RISCVIOMMUHardware {
        #expect(riscv.processedCommands.isEmpty && riscv.faults.isEmpty)
      }
    }
  }
}
