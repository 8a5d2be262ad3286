import AdmitToken
import ArgumentParser
import Foundation

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, inspect and verify access tokens.",
        subcommands: [Create.self, Inspect.self, Verify.self]
    )
}

extension TokenCommand {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new token signed with an API key's secret; iat is now.")

        @Option(help: "The API key the token is for (its apikey claim).")
        var apiKey: String

        @OptionGroup var secret: SecretOptions

        @Option(help: "Comma-separated: allow_join, ask_join, allow_mod.")
        var permissions = "allow_join"

        @Option(help: "Lifetime: seconds as digits, or a number with s, m, h or d (120m, 24h, 7d).")
        var expiresIn = "2h"

        @Option(help: "The claim version; only 2 exists. Implied by --room-id, --participant-id and --roles.")
        var version: Int?

        @Option(help: "Make the token valid for this room only.")
        var roomId: String?

        @Option(help: "Make the token valid for this participant only.")
        var participantId: String?

        @Option(help: "Comma-separated: crawler (server API), rtc (meetings). Default: both.")
        var roles: String?

        @Option(help: "A token id, so that the token can be revoked alone.")
        var jti: String?

        func run() throws {
            guard !apiKey.isEmpty else { throw ValidationError("--api-key is empty.") }
            let permissions = try parseNames(self.permissions, flag: "--permissions") as Permissions
            if permissions.contains(.askJoin), !permissions.isDisjoint(with: [.allowJoin, .allowMod]) {
                throw ValidationError(
                    "--permissions: ask_join cannot be combined with allow_join or allow_mod (the token would be refused with 4008).")
            }
            guard let lifetime = Lifetime.seconds(expiresIn) else {
                throw ValidationError(
                    "--expires-in '\(expiresIn)' is not a lifetime: use seconds as digits or a whole number with s, m, h or d (120m), at most 10 years."
                )
            }
            if let version, version != 2 { throw ValidationError("--version: only 2 exists.") }
            if let participantId, !TokenUse.isValidParticipantID(participantId) {
                throw ValidationError("--participant-id must be non-empty and contain no whitespace.")
            }
            if let roomId, roomId.isEmpty { throw ValidationError("--room-id is empty.") }
            let roles = try self.roles.map { try parseNames($0, flag: "--roles") as Roles }
            let claims = Claims(
                apiKey: apiKey, permissions: permissions, lifetime: lifetime, now: TokenClock.system.now(),
                version: version, roomId: roomId, participantId: participantId, roles: roles, jwtID: jti)
            print(Signer(secret: try secret.require()).sign(claims))
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a token's header and claims with readable times, and every problem found.",
            discussion: "Exit 0 when no problem is found among what could be checked, 1 otherwise. With a secret the signature is checked too.")

        @Argument(help: "The token, or - to read it from standard input.")
        var token: String

        @OptionGroup var secret: SecretOptions

        @Option(help: "Seconds of clock skew tolerated for exp, nbf and iat.")
        var leeway: Double = 60

        @Flag(help: "Print {header, claims, signatureChecked, valid, problems} as JSON.")
        var json = false

        func run() throws {
            let keys = try secret.load().map(SingleSecret.init)
            let explanation = Explanation(token: try readToken(token), keys: keys, leeway: leeway)
            print(json ? explanation.json.prettyText : explanation.text)
            if !explanation.isValid { throw ExitCode.failure }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a token as the server would; print its claims, or the error body on standard error.",
            discussion: "Exit 0 when valid, 1 when not. --room-id or --participant-id imply --use join.")

        enum Use: String, ExpressibleByArgument, CaseIterable {
            case join, api
        }

        @Argument(help: "The token, or - to read it from standard input.")
        var token: String

        @OptionGroup var secret: SecretOptions

        @Option(help: "Seconds of clock skew tolerated for exp, nbf and iat.")
        var leeway: Double = 60

        @Option(help: "Check the token for joining this room.")
        var roomId: String?

        @Option(help: "Check the token for this participant.")
        var participantId: String?

        @Option(help: "What the token is checked for: join (a meeting) or api (the server API).")
        var use: Use?

        func validate() throws {
            guard leeway >= 0, leeway.isFinite else { throw ValidationError("--leeway must be zero or more seconds.") }
            if use == .api, participantId != nil { throw ValidationError("--participant-id applies to --use join only.") }
        }

        func run() throws {
            let verifier = Verifier(keys: SingleSecret(try secret.require()), leeway: leeway)
            let text = try readToken(token)
            let purpose: TokenUse? =
                switch use ?? (roomId != nil || participantId != nil ? .join : nil) {
                case .join: .join(roomId: roomId, participantId: participantId)
                case .api: .serverAPI(roomId: roomId)
                case nil: nil
                }
            do {
                _ = try verifier.verify(text, for: purpose)
            } catch {
                printError(error.body.jsonText)
                throw ExitCode.failure
            }
            // Verified: print the claims as written, including ones Admit ignores.
            print((Explanation(token: text).claims ?? .null).prettyText)
        }
    }
}

/// The set a comma-separated flag value names, or a usage error naming the flag and the known names.
func parseNames<Names: WireNamedSet>(_ list: String, flag: String) throws -> Names {
    do {
        return try Names(list: list)
    } catch {
        throw ValidationError("\(flag): unknown value '\(error.name)'; use \(Names.knownNames).")
    }
}
