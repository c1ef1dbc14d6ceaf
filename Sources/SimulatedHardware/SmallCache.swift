/// A hardware cache holding few entries (configuration: one per stream, substream or device in
/// use; translation: the pages mapped since the last invalidation, a few dozen at most in a
/// handover), searched in order. The models look entries up on every DMA transaction, and
/// hashing the key cost more than comparing it with the keys cached; it has the subset of
/// `Dictionary`'s interface the models use.
struct SmallCache<Key: Equatable, Value> {
  private var entries: [(key: Key, value: Value)] = []

  subscript(key: Key) -> Value? {
    get {
      for entry in entries where entry.key == key { return entry.value }
      return nil
    }
    set {
      let index = entries.firstIndex { $0.key == key }
      switch (index, newValue) {
      case (let i?, let value?): entries[i].value = value
      case (let i?, nil): entries.remove(at: i)
      case (nil, let value?): entries.append((key, value))
      case (nil, nil): break
      }
    }
  }

  mutating func removeAll(where shouldRemove: ((key: Key, value: Value)) -> Bool) {
    entries.removeAll(where: shouldRemove)
  }

  mutating func removeAll(keepingCapacity: Bool) {
    entries.removeAll(keepingCapacity: keepingCapacity)
  }
}
