import IOMMUModelTesting
import Testing

enum Mode: UInt64, Sendable, Hashable {
  case off = 0
  case bare = 1
  case oneLevel = 2
  case twoLevel = 3
  case threeLevel = 4
}

struct TestDDTP: Register {
  static let offset = 0x10
  static let name = "DDTP"
  static let fields = [
    RegisterField("MODE", 0...3), RegisterField("BUSY", bit: 4), RegisterField("PPN", 10...53),
  ]
  var raw: UInt64
  init(raw: UInt64) { self.raw = raw }
  var mode: FieldValue<Mode> {
    get { raw.field(0...3) }
    set { raw[bits: 0...3] = newValue.rawValue }
  }
  var busy: Bool {
    get { raw[bit: 4] }
    set { raw[bit: 4] = newValue }
  }
  var ppn: UInt64 {
    get { raw[bits: 10...53] }
    set { raw[bits: 10...53] = newValue }
  }
}

struct TestCSR: Register {
  static let offset = 0x48
  static let name = "CQCSR"
  static let writeOneToClear: UInt32 = 0xf00
  var raw: UInt32
  init(raw: UInt32) { self.raw = raw }
  var enable: Bool {
    get { raw[bit: 0] }
    set { raw[bit: 0] = newValue }
  }
  var memoryFault: Bool {
    get { raw[bit: 8] }
    set { raw[bit: 8] = newValue }
  }
}

@Suite("Typed registers: fields, reserved encodings, read-modify-write")
struct TypedRegisterTests {
  @Test("fields read and write their bits")
  func fields() {
    var d = TestDDTP(raw: 0)
    d.mode = .known(.threeLevel)
    d.ppn = 0x8_0000
    d.busy = true
    #expect(d.raw == 0x8_0000 << 10 | 0x10 | 4)
    #expect(d.decoded.map(\.value) == [4, 1, 0x8_0000])
    #expect(d.description == "DDTP=0x0000000020000014")
  }

  @Test("a reserved enum encoding is reported as reserved, not trapped")
  func reservedEncoding() {
    let d = TestDDTP(raw: 0xf)
    #expect(d.mode == .reserved(15))
    #expect(d.mode.known == nil)
    #expect("\(d.mode)" == "reserved(15)")
  }

  @Test("update never writes back W1C bits it did not mean to clear")
  func updateKeepsW1C() throws {
    let regs = SimulatedRegisterFile(
      size: 0x100,
      registers: [.init("CQCSR", offset: 0x48, width: .dword, reset: 0x100, writeOneToClear: 0xf00)]
    )
    let traced = RecordingRegisterIO(regs)
    try traced.update(TestCSR.self) { $0.enable = true }
    #expect(traced.trace.lines == ["R32 0x0048 0x00000100", "W32 0x0048 0x00000001"])
    #expect(try regs.read(TestCSR.self).memoryFault)
    try traced.update(TestCSR.self) { $0.memoryFault = false }
    #expect(traced.trace.lines.last == "W32 0x0048 0x00000101")
    #expect(try !regs.read(TestCSR.self).memoryFault)
  }

  @Test("register arrays check their index")
  func registerArray() throws {
    struct SMR: RegisterArray {
      static let name = "SMR"
      static let base = 0x800
      static let stride = 4
      static let count = 128
      var raw: UInt32
      init(raw: UInt32) { self.raw = raw }
    }
    let regs = SimulatedRegisterFile(
      size: 0x1000, registers: [.init("SMR1", offset: 0x804, width: .dword)])
    try regs.write(SMR(raw: 0x8000_0010), index: 1)
    #expect(try regs.read(SMR.self, index: 1).raw == 0x8000_0010)
    #expect(throws: IOError.outOfBounds(offset: 0xa00, width: .dword, size: 0xa00)) {
      try regs.read(SMR.self, index: 128)
    }
  }
}

@Suite("Access traces: one canonical text form")
struct AccessTraceTests {
  @Test("reads and writes print as R32/W64 lines with padded offset and value")
  func canonicalForm() throws {
    let t = TracedRegisters(
      SimulatedRegisterFile(size: 0x1000, registers: [.init("X", offset: 0x2f8, width: .qword)]))
    try t.recorder.write(UInt64(0x2310), at: 0x2f8)
    _ = try t.recorder.read(UInt32.self, at: 0x2f8)
    #expect(t.lines == ["W64 0x02f8 0x0000000000002310", "R32 0x02f8 0x00002310"])
  }

  @Test("refused accesses are not recorded")
  func refusedNotRecorded() {
    let t = TracedRegisters(SimulatedRegisterFile(size: 0x10, registers: []))
    _ = try? t.recorder.read(UInt64.self, at: 0x10)
    #expect(t.lines.isEmpty)
  }

  @Test("canonical lines parse back; a bad line is named")
  func parse() throws {
    let accesses = try parseTrace(
      "# probe\nW32 0x0048 0x00000103\n\nR64 0x0010 0x0000000000000001\n")
    #expect(
      accesses.map(\.description) == ["W32 0x0048 0x00000103", "R64 0x0010 0x0000000000000001"])
    #expect(throws: TraceParseError.self) { try parseTrace("W32 0x0048\n", file: "x.trace") }
    do {
      _ = try parseTrace("R32 0x0 0x0\nbogus\n", file: "x.trace")
    } catch {
      #expect(error.description == "x.trace:2: not a trace line: bogus")
    }
  }
}
