import Foundation
import Testing

@testable import AdmitToken

@Suite("key table")
struct KeyTableTests {
    /// Names of every length from 0 to 80 bytes, ASCII and not, several per length.
    static let names: [String] =
        (0...80).flatMap { length in
            ["a", "é", "k"].map { first in String((first + String(repeating: "x", count: length)).prefix(length)) }
        }.uniqued() + (0..<500).map { _ in UUID().uuidString.lowercased() }

    static func key(_ index: Int) -> VerificationKey {
        VerificationKey(secrets: [LiveSecret(Secret("secret-\(index)")!)], isDeactivated: index % 7 == 0)
    }

    @Test("every key is found by its string and by its bytes, with its own name")
    func finds() {
        let keys = Dictionary(uniqueKeysWithValues: Self.names.enumerated().map { ($1, Self.key($0)) })
        let table = KeyTable(keys)
        #expect(table.count == keys.count)
        for (name, key) in keys {
            #expect(table[name]?.isDeactivated == key.isDeactivated, "\(name)")
            let found = Array(name.utf8).withUnsafeBytes { table.lookup(utf8: $0) }
            #expect(found?.name == name)
            #expect(found?.key.isDeactivated == key.isDeactivated)
            #expect(found?.key.secrets.count == 1)
        }
    }

    @Test("names that are not keys are not found: prefixes, extensions, one byte changed, other lengths")
    func refuses() {
        let present = Array(Self.names.filter { $0.utf8.count >= 2 }.prefix(300))
        let table = KeyTable(Dictionary(uniqueKeysWithValues: present.enumerated().map { ($1, Self.key($0)) }))
        let all = Set(present)
        for name in present {
            var bytes = Array(name.utf8)
            for candidate in [Array(bytes.dropLast()), bytes + [0x79], [0x79] + bytes] {
                let text = String(decoding: candidate, as: UTF8.self)
                guard !all.contains(text) else { continue }
                #expect(candidate.withUnsafeBytes { table.lookup(utf8: $0) } == nil, "\(text)")
                #expect(table[text] == nil)
            }
            bytes[bytes.count / 2] ^= 0x01
            let changed = String(decoding: bytes, as: UTF8.self)
            if !all.contains(changed) { #expect(table[changed] == nil) }
        }
        #expect(KeyTable([:])["anything"] == nil)
        #expect(KeyTable([:]).lookup(utf8: UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
    }

    @Test("two tables hash differently (seeded), and both find their keys")
    func seeded() {
        let bytes = Array("1b7f3e0c-4f5d-4d3a-9a51-7c9e2a6f0b42".utf8)
        let hashes = Set(
            (0..<8).map { seed in bytes.withUnsafeBytes { KeyTable.hash($0, seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15) } })
        #expect(hashes.count == 8)
    }
}

extension Array where Element: Hashable {
    fileprivate func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
