#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// API keys by name, found from the bytes of a token's `apikey` claim without making a
/// `String` or running the standard library's SipHash: a verification looks up one key, and
/// an API key name (36 bytes for a UUID) would otherwise cost an allocation and a hash
/// longer than the rest of the lookup.
///
/// Open addressing with linear probing over a table at most half full. The hash is seeded
/// per table at random; the table holds only the server's own keys, so a token's name can
/// lengthen a probe only as far as those keys' clusters.
public struct KeyTable: Sendable {
    private struct Entry: Sendable {
        let name: String
        let utf8: [UInt8]
        let hash: UInt64
        let key: VerificationKey
    }

    private let entries: [Entry]
    /// Indexes into `entries`; -1 marks an empty slot. The count is a power of two.
    private let slots: [Int32]
    private let seed: UInt64

    public init(_ keys: [String: VerificationKey]) {
        var generator = SystemRandomNumberGenerator()
        let seed = generator.next() as UInt64
        var capacity = 8
        while capacity < 2 * keys.count { capacity *= 2 }
        var slots = [Int32](repeating: -1, count: capacity)
        var entries: [Entry] = []
        entries.reserveCapacity(keys.count)
        for (name, key) in keys {
            let utf8 = Array(name.utf8)
            let hash = utf8.withUnsafeBytes { Self.hash($0, seed: seed) }
            var index = Int(truncatingIfNeeded: hash) & (capacity - 1)
            while slots[index] >= 0 { index = (index + 1) & (capacity - 1) }
            slots[index] = Int32(entries.count)
            entries.append(Entry(name: name, utf8: utf8, hash: hash, key: key))
        }
        self.entries = entries
        self.slots = slots
        self.seed = seed
    }

    public var count: Int { entries.count }

    /// The key named `name`.
    public subscript(name: String) -> VerificationKey? {
        var name = name
        return name.withUTF8 { lookup(utf8: UnsafeRawBufferPointer($0))?.key }
    }

    /// The key whose name's UTF-8 bytes are `utf8`, with that name (the table's own copy).
    public func lookup(utf8: UnsafeRawBufferPointer) -> (name: String, key: VerificationKey)? {
        let hash = Self.hash(utf8, seed: seed)
        return slots.withUnsafeBufferPointer { slots in
            entries.withUnsafeBufferPointer { entries in
                var index = Int(truncatingIfNeeded: hash) & (slots.count - 1)
                while case let slot = slots[index], slot >= 0 {
                    let entry = entries[Int(slot)]
                    if entry.hash == hash, entry.utf8.count == utf8.count,
                        entry.utf8.withUnsafeBytes({ memcmp($0.baseAddress!, utf8.baseAddress!, utf8.count) }) == 0
                    {
                        return (entry.name, entry.key)
                    }
                    index = (index + 1) & (slots.count - 1)
                }
                return nil
            }
        }
    }

    /// A seeded 64-bit hash, eight bytes per step with a multiply-xorshift mix.
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var hash = seed ^ (UInt64(bytes.count) &* 0x9E37_79B9_7F4A_7C15)
        var index = 0
        while index + 8 <= bytes.count {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
            index += 8
        }
        if index < bytes.count {
            var tail: UInt64 = 0
            if bytes.count >= 8 {
                // The last eight bytes, overlapping the words already mixed (the length is mixed in too).
                tail = bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self).littleEndian
            } else {
                for offset in index..<bytes.count { tail |= UInt64(bytes[offset]) << (8 * UInt64(offset - index)) }
            }
            hash = (hash ^ tail) &* 0x94D0_49BB_1331_11EB
            hash ^= hash >> 29
        }
        hash = (hash ^ (hash >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return hash ^ (hash >> 32)
    }
}
