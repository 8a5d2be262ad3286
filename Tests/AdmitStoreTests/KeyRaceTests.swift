import Foundation
import Testing

@testable import AdmitStore

/// Key changes sent at the same time, many times over, on every backend: none is lost.
@Suite("store: concurrent key changes (shared by every backend)")
struct KeyRaceTests {
    static let trials = 40

    static func newKey(_ store: any Repositories) async throws -> String {
        let id = "race-\(UUID().uuidString)"
        try await store.insertKey(
            APIKeyRecord(apiKey: id, name: "race", sealedSecret: Data("s0".utf8), createdAt: instant(1_795_000_000), updatedAt: instant(1_795_000_000)))
        return id
    }

    @Test("a rotation and a deactivation at the same time both take effect", arguments: Backend.available)
    func rotateAndDeactivate(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            for trial in 0..<Self.trials {
                let id = try await Self.newKey(store)
                let sealed = Data("s1-\(trial)".utf8)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        _ = try await store.rotateKey(apiKey: id, sealedSecret: sealed, previousValidUntil: instant(1_795_003_600), now: instant(1_795_000_001))
                    }
                    group.addTask { _ = try await store.deactivateKey(apiKey: id, now: instant(1_795_000_001)) }
                    try await group.waitForAll()
                }
                let key = try #require(try await store.key(id))
                #expect(key.isDeactivated, "trial \(trial): the deactivation was lost")
                #expect(key.sealedSecret == sealed, "trial \(trial): the rotation was lost")
                #expect(key.previousSecrets.map(\.sealed) == [Data("s0".utf8)])
            }
        }
    }

    @Test("concurrent rotations: every secret returned stays valid, each for the grace its rotation promised", arguments: Backend.available)
    func concurrentRotations(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            for trial in 0..<(Self.trials / 4) {
                let id = try await Self.newKey(store)
                let now = instant(1_795_000_000)
                // Four rotations at once, each with its own grace.
                let results = try await withThrowingTaskGroup(of: (Data, Date, APIKeyRecord?).self) { group in
                    for index in 0..<4 {
                        let sealed = Data("s-\(trial)-\(index)".utf8)
                        let until = now.addingTimeInterval(Double(600 * (index + 1)))
                        group.addTask {
                            (sealed, until, try await store.rotateKey(apiKey: id, sealedSecret: sealed, previousValidUntil: until, now: now))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let key = try #require(try await store.key(id))
                let live = Set([key.sealedSecret] + key.previousSecrets.map(\.sealed))
                for (sealed, _, record) in results {
                    #expect(record?.sealedSecret == sealed)
                    #expect(live.contains(sealed), "trial \(trial): a secret returned by a rotation is gone")
                }
                #expect(live.contains(Data("s0".utf8)), "trial \(trial): the first rotation's promised grace was dropped")
                #expect(key.previousSecrets.count == 4)
                // The secret each rotation replaced stays valid for that rotation's grace.
                for (_, until, record) in results {
                    let replaced = try #require(record?.previousSecrets.first)
                    #expect(key.previousSecrets.contains(replaced), "trial \(trial): \(until) lost")
                    #expect(replaced.validUntil == until)
                }
            }
        }
    }

    @Test("rotations within one another's grace accumulate up to the cap, then are refused; expired ones are dropped", arguments: Backend.available)
    func rotationCap(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let id = try await Self.newKey(store)
            let now = instant(1_795_000_000)
            for index in 0..<APIKeyRecord.maxPreviousSecrets {
                _ = try await store.rotateKey(apiKey: id, sealedSecret: Data("r\(index)".utf8), previousValidUntil: now.addingTimeInterval(60), now: now)
            }
            await #expect(throws: TooManyLiveSecrets.self) {
                try await store.rotateKey(apiKey: id, sealedSecret: Data("over".utf8), previousValidUntil: now.addingTimeInterval(60), now: now)
            }
            #expect(try await store.key(id)?.sealedSecret == Data("r15".utf8))
            // A minute later every grace has run out: the next rotation keeps only the secret it replaces.
            let later = now.addingTimeInterval(61)
            let key = try #require(
                try await store.rotateKey(apiKey: id, sealedSecret: Data("next".utf8), previousValidUntil: later.addingTimeInterval(60), now: later))
            #expect(key.previousSecrets.map(\.sealed) == [Data("r15".utf8)])
        }
    }
}
