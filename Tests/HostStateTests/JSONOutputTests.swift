import Foundation
import HostState
import Testing

@Suite("JSON output")
struct JSONOutputTests {
  @Test("the report's JSON has the same content as Foundation's JSONEncoder gives, keys sorted")
  func sameAsFoundation() throws {
    let report = HostFixtures.report(sys: HostFixtures.laptop + "/sys", proc: HostFixtures.laptop + "/proc")
    let ours = try JSONOutput.encode(report)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let theirs = try encoder.encode(report)
    let a = try JSONSerialization.jsonObject(with: Data(ours.utf8)) as? NSDictionary
    let b = try JSONSerialization.jsonObject(with: theirs) as? NSDictionary
    #expect(a != nil && a == b)
    #expect(ours.hasPrefix("{\n  \"firmware\": [\n"))
    // Sorted keys at every level.
    #expect(ours.contains("\"address\": \"0xfed90000\",\n        \"cap\": {"))
  }

  @Test("strings are escaped: quotes, backslashes, control characters")
  func escaping() throws {
    #expect(try JSONOutput.encode(["k": "a\"b\\c\n\u{1}"]) == "{\n  \"k\": \"a\\\"b\\\\c\\n\\u0001\"\n}")
    #expect(try JSONOutput.encode([UInt8(7), 255]) == "[\n  7,\n  255\n]")
    #expect(try JSONOutput.encode([String]()) == "[]")
  }
}
