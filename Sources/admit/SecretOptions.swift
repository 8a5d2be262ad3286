import AdmitToken
import ArgumentParser
import Foundation

/// Where the signing secret comes from: a flag, a file, or `ADMIT_SECRET` (so it can stay out of shell history).
struct SecretOptions: ParsableArguments {
    @Option(help: "The API key's secret (prefer --secret-file or ADMIT_SECRET: flags end up in shell history).")
    var secret: String?

    @Option(help: "A file holding the secret; one trailing newline is ignored.")
    var secretFile: String?

    func validate() throws {
        if secret != nil, secretFile != nil {
            throw ValidationError("Give the secret once: --secret or --secret-file, not both.")
        }
    }

    /// The secret when one was given in any of the three ways.
    func load() throws -> Secret? {
        var text: String?
        if let secret {
            text = secret
        } else if let secretFile {
            guard let data = FileManager.default.contents(atPath: secretFile), let contents = String(data: data, encoding: .utf8) else {
                throw ValidationError("Cannot read the secret file \(secretFile).")
            }
            text = contents.hasSuffix("\r\n") ? String(contents.dropLast(2)) : contents.hasSuffix("\n") ? String(contents.dropLast()) : contents
        } else if let fromEnvironment = ProcessInfo.processInfo.environment["ADMIT_SECRET"] {
            text = fromEnvironment
        }
        guard let text else { return nil }
        guard let secret = Secret(text) else { throw ValidationError("The secret is empty.") }
        return secret
    }

    /// The secret, or a usage error naming the three ways to give one.
    func require() throws -> Secret {
        guard let secret = try load() else {
            throw ValidationError("A secret is needed: --secret-file FILE, ADMIT_SECRET in the environment, or --secret S.")
        }
        return secret
    }
}

/// Reads a token given as an argument, or from standard input when the argument is `-`.
func readToken(_ argument: String) throws -> String {
    guard argument == "-" else { return argument }
    let data = FileHandle.standardInput.readDataToEndOfFile()
    guard data.count <= 64 * 1024, let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("Standard input does not hold a token.")
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
