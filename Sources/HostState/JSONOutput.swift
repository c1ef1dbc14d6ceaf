/// A small JSON encoder for reports: keys sorted, two-space indentation, no dynamic casts.
///
/// Foundation's JSONEncoder looks up protocol conformances for every value it encodes, which
/// costs more than the rest of `iommu-model host --json` together on a cold start; the report
/// only needs objects, arrays, strings, integers and booleans.
public enum JSONOutput {
  /// `value` as pretty-printed JSON with sorted keys.
  public static func encode(_ value: some Encodable) throws -> String {
    let root = Node()
    try value.encode(to: TreeEncoder(node: root, path: []))
    var out = ""
    write(root.value, indent: "", into: &out)
    return out
  }

  indirect enum Value {
    case object([String: Node])
    case array([Node])
    case string(String)
    case number(String)
    case bool(Bool)
    case null
  }

  final class Node {
    var value: Value = .null
  }

  static func write(_ value: Value, indent: String, into out: inout String) {
    let inner = indent + "  "
    switch value {
    case .object(let members) where members.isEmpty: out += "{}"
    case .array(let items) where items.isEmpty: out += "[]"
    case .object(let members):
      out += "{\n"
      for (i, key) in members.keys.sorted().enumerated() {
        out += inner
        writeString(key, into: &out)
        out += ": "
        write(members[key]?.value ?? .null, indent: inner, into: &out)
        out += i + 1 < members.count ? ",\n" : "\n"
      }
      out += indent + "}"
    case .array(let items):
      out += "[\n"
      for (i, item) in items.enumerated() {
        out += inner
        write(item.value, indent: inner, into: &out)
        out += i + 1 < items.count ? ",\n" : "\n"
      }
      out += indent + "]"
    case .string(let s): writeString(s, into: &out)
    case .number(let n): out += n
    case .bool(let b): out += b ? "true" : "false"
    case .null: out += "null"
    }
  }

  static func writeString(_ s: String, into out: inout String) {
    out += "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case let c where c.value < 0x20:
        let h = String(c.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
      default: out.unicodeScalars.append(u)
      }
    }
    out += "\""
  }
}

private struct TreeEncoder: Encoder {
  let node: JSONOutput.Node
  let codingPath: [any CodingKey]
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  init(node: JSONOutput.Node, path: [any CodingKey]) {
    self.node = node
    codingPath = path
  }

  func container<Key: CodingKey>(keyedBy: Key.Type) -> KeyedEncodingContainer<Key> {
    if case .object = node.value {} else { node.value = .object([:]) }
    return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
  }

  func unkeyedContainer() -> any UnkeyedEncodingContainer {
    if case .array = node.value {} else { node.value = .array([]) }
    return UnkeyedContainer(node: node, codingPath: codingPath)
  }

  func singleValueContainer() -> any SingleValueEncodingContainer {
    SingleContainer(node: node, codingPath: codingPath)
  }
}

private protocol NodeWriter {
  var codingPath: [any CodingKey] { get }
}

extension NodeWriter {
  func store<T: Encodable>(_ value: T, in node: JSONOutput.Node, key: (any CodingKey)?) throws {
    try value.encode(to: TreeEncoder(node: node, path: codingPath + (key.map { [$0] } ?? [])))
  }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol, NodeWriter {
  let node: JSONOutput.Node
  let codingPath: [any CodingKey]

  private func child(_ key: Key) -> JSONOutput.Node {
    guard case .object(var members) = node.value else { return JSONOutput.Node() }
    if let existing = members[key.stringValue] { return existing }
    let n = JSONOutput.Node()
    members[key.stringValue] = n
    node.value = .object(members)
    return n
  }

  mutating func encodeNil(forKey key: Key) throws { child(key).value = .null }
  mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).value = .bool(value) }
  mutating func encode(_ value: String, forKey key: Key) throws { child(key).value = .string(value) }
  mutating func encode(_ value: Int, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: Int8, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: Int16, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: Int32, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: UInt, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: UInt8, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: UInt16, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: UInt32, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: UInt64, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: Double, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode(_ value: Float, forKey key: Key) throws { child(key).value = .number(String(value)) }
  mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try store(value, in: child(key), key: key) }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy: NestedKey.Type, forKey key: Key)
    -> KeyedEncodingContainer<NestedKey>
  {
    TreeEncoder(node: child(key), path: codingPath + [key]).container(keyedBy: NestedKey.self)
  }

  mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
    TreeEncoder(node: child(key), path: codingPath + [key]).unkeyedContainer()
  }

  mutating func superEncoder() -> any Encoder { TreeEncoder(node: node, path: codingPath) }
  mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(node: child(key), path: codingPath + [key]) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer, NodeWriter {
  let node: JSONOutput.Node
  let codingPath: [any CodingKey]
  var count: Int {
    if case .array(let items) = node.value { return items.count }
    return 0
  }

  private func append() -> JSONOutput.Node {
    guard case .array(var items) = node.value else { return JSONOutput.Node() }
    let n = JSONOutput.Node()
    items.append(n)
    node.value = .array(items)
    return n
  }

  mutating func encodeNil() throws { append().value = .null }
  mutating func encode(_ value: Bool) throws { append().value = .bool(value) }
  mutating func encode(_ value: String) throws { append().value = .string(value) }
  mutating func encode(_ value: Int) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: Int8) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: Int16) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: Int32) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: Int64) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: UInt) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: UInt8) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: UInt16) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: UInt32) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: UInt64) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: Double) throws { append().value = .number(String(value)) }
  mutating func encode(_ value: Float) throws { append().value = .number(String(value)) }
  mutating func encode<T: Encodable>(_ value: T) throws { try store(value, in: append(), key: nil) }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
    TreeEncoder(node: append(), path: codingPath).container(keyedBy: NestedKey.self)
  }

  mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
    TreeEncoder(node: append(), path: codingPath).unkeyedContainer()
  }

  mutating func superEncoder() -> any Encoder { TreeEncoder(node: append(), path: codingPath) }
}

private struct SingleContainer: SingleValueEncodingContainer, NodeWriter {
  let node: JSONOutput.Node
  let codingPath: [any CodingKey]

  mutating func encodeNil() throws { node.value = .null }
  mutating func encode(_ value: Bool) throws { node.value = .bool(value) }
  mutating func encode(_ value: String) throws { node.value = .string(value) }
  mutating func encode(_ value: Int) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: Int8) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: Int16) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: Int32) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: Int64) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: UInt) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: UInt8) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: UInt16) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: UInt32) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: UInt64) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: Double) throws { node.value = .number(String(value)) }
  mutating func encode(_ value: Float) throws { node.value = .number(String(value)) }
  mutating func encode<T: Encodable>(_ value: T) throws { try store(value, in: node, key: nil) }
}
