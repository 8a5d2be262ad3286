import AdmitServer
import AdmitStore
import ArgumentParser
import Foundation
import Logging

/// Where data lives and how secrets are sealed, shared by `serve` and `keys`.
struct StoreOptions: ParsableArguments {
    @Option(help: "Directory for the embedded SQLite database (and dev mode's generated keys).")
    var dataDir = "./.admit"

    @Option(help: "A PostgreSQL URL (postgres://user:password@host:5432/db) instead of SQLite; or ADMIT_DATABASE_URL.")
    var database: String?

    @Option(help: "A file holding the base64 master key that seals API key secrets; or ADMIT_MASTER_KEY.")
    var masterKeyFile: String?

    func validate() throws {
        if let url = databaseURL, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            throw ValidationError("--database must be a postgres:// URL; SQLite is the default under --data-dir.")
        }
    }

    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["ADMIT_DATABASE_URL"]
    }

    var location: AppConfiguration.Database {
        if let url = databaseURL { return .postgres(url: url) }
        return .sqlite(path: URL(fileURLWithPath: dataDir).appendingPathComponent("admit.sqlite").path)
    }

    /// The master key: the file, the environment, or (when `create` is set, for dev mode)
    /// `master.key` under the data directory, generated on first use.
    func masterKey(create: Bool) throws -> String? {
        if let masterKeyFile { return try readSecretFile(masterKeyFile, what: "master key") }
        if let value = ProcessInfo.processInfo.environment["ADMIT_MASTER_KEY"], !value.isEmpty { return value }
        let path = URL(fileURLWithPath: dataDir).appendingPathComponent("master.key").path
        if FileManager.default.fileExists(atPath: path) { return try readSecretFile(path, what: "master key") }
        guard create else { return nil }
        let key = SecretBox.generateMasterKey()
        try writePrivateFile(path, key)
        return key
    }

    /// Opens the store for `keys` commands.
    func open() async throws -> (Store, SecretBox) {
        guard let key = try masterKey(create: false) else {
            throw ValidationError("No master key: set ADMIT_MASTER_KEY, give --master-key-file, or use the data dir a dev server created.")
        }
        let box = try SecretBox(base64: key)
        let logger = Logger(label: "admit")
        switch location {
        case .postgres(let url): return (try await .postgres(url: url, logger: logger), box)
        case .sqlite(let path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("No database at \(path); start a server first or give --data-dir.")
            }
            return (try await .sqlite(path: path, logger: logger), box)
        case .memory: return (.memory(), box)
        }
    }
}

/// Reads a secret from a file, without its trailing newline.
func readSecretFile(_ path: String, what: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("Cannot read the \(what) file \(path).")
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The files Admit keeps in its data directory.
private let dataFiles: Set<String> = ["admit.sqlite", "admit.sqlite-wal", "admit.sqlite-shm", "master.key", "admin-token", "janus"]

/// Creates `path` (and its parents) if missing, accessible to its owner only (0700). An
/// existing directory is closed the same way when it holds nothing but Admit's files (made
/// by an older Admit, or copied); one the operator shares with other things (`--data-dir .`)
/// is left as it is, with a warning, and Admit's files in it are 0600 anyway.
func makePrivateDirectory(_ path: String) throws {
    let manager = FileManager.default
    guard manager.fileExists(atPath: path) else {
        try manager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return
    }
    let mode = (try manager.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
    guard mode & 0o077 != 0 else { return }
    if try manager.contentsOfDirectory(atPath: path).allSatisfy(dataFiles.contains) {
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
    } else {
        printError(
            "admit: warning: the data directory \(path) is open to other users; Admit's files in it are private, but prefer a directory of their own."
        )
    }
}

/// Makes Admit's secret files in the data directory readable by their owner only, as they are when created.
func makeSecretFilesPrivate(in directory: String) {
    for name in ["master.key", "admin-token"] {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        }
    }
}

/// Writes `text` to a new file readable by its owner only, in a directory only its owner can enter.
func writePrivateFile(_ path: String, _ text: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try makePrivateDirectory(directory)
    guard FileManager.default.createFile(atPath: path, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
        throw ValidationError("Cannot write \(path).")
    }
}
