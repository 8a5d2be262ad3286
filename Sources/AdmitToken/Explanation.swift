import Foundation

/// Everything that can be told about a token without trusting it: its header and
/// claims as written, and every problem found, not just the first (`admit token inspect`).
///
/// With a secret the signature is checked too; without one, `signatureChecked` is false
/// and `isValid` speaks only of what could be checked.
public struct Explanation: Sendable {
    public var header: JSONValue?
    public var claims: JSONValue?
    public var signatureChecked: Bool
    public var problems: [TokenError]
    /// The time the explanation was made at, for relative times.
    public var now: Double

    /// No problem among what could be checked.
    public var isValid: Bool { problems.isEmpty }

    /// Explains `token` (surrounding whitespace and a `Bearer ` prefix are ignored).
    public init(
        token: String, keys: (any KeyProvider)? = nil, leeway: Double = 60, clock: TokenClock = .system,
        use: TokenUse? = nil
    ) {
        var text = token.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("Bearer ") { text = String(text.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
        self.header = nil
        self.claims = nil
        self.signatureChecked = false
        self.problems = []
        self.now = clock.now()
        let now = self.now
        text.withUTF8 { utf8 in
            examine(UnsafeRawBufferPointer(utf8), keys: keys, leeway: leeway, now: now, use: use)
        }
    }

    private mutating func examine(
        _ token: UnsafeRawBufferPointer, keys: (any KeyProvider)?, leeway: Double, now: Double, use: TokenUse?
    ) {
        let parts: TokenParts
        do throws(TokenError) { parts = try TokenParts.split(token) } catch { return problems.append(error) }
        header = Self.display(token, parts.header)
        claims = Self.display(token, parts.payload)
        var header: Header?
        var payload: Payload?
        var signature: SIMD32<UInt8>??
        do throws(TokenError) { header = try TokenParts.header(token, parts.header) } catch { problems.append(error) }
        do throws(TokenError) { payload = try TokenParts.payload(token, parts.payload) } catch { problems.append(error) }
        do throws(TokenError) { signature = .some(try TokenParts.signature(token, parts.signature)) } catch { problems.append(error) }
        if let payload { report(Steps.claimTypes(payload)) }
        if let header {
            report(Steps.algorithm(header))
            report(Steps.crit(header))
        }
        guard let payload else { return }
        switch Steps.apiKey(payload, keys: keys ?? PresenceOnly()) {
        case .failure(let error):
            problems.append(error)
        case .success(let key):
            if keys != nil, let signature {
                signatureChecked = true
                report(Steps.signature(signature, input: UnsafeRawBufferPointer(rebasing: token[parts.signingInput]), key: key, now: now))
            }
        }
        report(Steps.expiry(payload, now: now, leeway: leeway))
        report(Steps.notBefore(payload, now: now, leeway: leeway))
        report(Steps.issuedAt(payload, now: now, leeway: leeway))
        report(Steps.permissions(payload))
        report(Steps.version(payload))
        report(Steps.roles(payload))
        if let use, Steps.claimTypes(payload) == nil {
            do throws(TokenError) { try use.check(payload.claims) } catch { problems.append(error) }
        }
    }

    private mutating func report(_ problem: TokenError?) {
        if let problem { problems.append(problem) }
    }

    /// A segment shown as JSON when it decodes to JSON, else nil.
    private static func display(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) -> JSONValue? {
        guard let bytes = Base64URL.decode(UnsafeRawBufferPointer(rebasing: token[range])) else { return nil }
        return bytes.withUnsafeBytes { try? JSONValue(parsing: $0) }
    }

    /// `{"header", "claims", "signatureChecked", "valid", "problems": [{"code", "name", "reason", "message", "detail"}]}`.
    public var json: JSONValue {
        .object([
            JSONMember("header", header ?? .null),
            JSONMember("claims", claims ?? .null),
            JSONMember("signatureChecked", .bool(signatureChecked)),
            JSONMember("valid", .bool(isValid)),
            JSONMember(
                "problems",
                .array(
                    problems.map { problem in
                        .object([
                            JSONMember("code", .number(String(problem.code.value))),
                            JSONMember("name", .string(problem.code.name)),
                            JSONMember("reason", .string(problem.reason.rawValue)),
                            JSONMember("message", .string(problem.code.message)),
                            JSONMember("detail", .string(problem.detail)),
                        ])
                    })),
        ])
    }

    /// The report for people: header, claims with readable times, signature, problems.
    public var text: String {
        var lines: [String] = []
        lines.append("Header: " + (header?.jsonText ?? "(not readable)"))
        lines.append("Claims:")
        if case .object(let members)? = claims {
            let width = members.map(\.key.count).max() ?? 0
            for member in members {
                var line = "  " + member.key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + member.value.jsonText
                if ["exp", "iat", "nbf"].contains(member.key), let seconds = member.value.doubleValue {
                    line += "  (" + Self.iso8601(seconds) + ", " + Self.relative(member.key, seconds, now: now) + ")"
                }
                lines.append(line)
            }
        } else {
            lines.append("  (not readable)")
        }
        lines.append("Signature: " + (signatureChecked ? "checked" : "not checked (give a secret to check it)"))
        if problems.isEmpty {
            lines.append(signatureChecked ? "Valid." : "No problem found in what could be checked.")
        } else {
            lines.append("Problems (\(problems.count)):")
            for problem in problems {
                lines.append("  \(problem.code.value) \(problem.code.name) [\(problem.reason.rawValue)]: \(problem.detail)")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func iso8601(_ seconds: Double) -> String {
        guard abs(seconds) < 1e11 else { return "far from now" }
        return Date(timeIntervalSince1970: seconds.rounded(.down)).ISO8601Format()
    }

    private static func relative(_ claim: String, _ seconds: Double, now: Double) -> String {
        if claim == "exp" { return RelativeTime.expiry(seconds, now: now) }
        let distance = RelativeTime.describe(seconds - now)
        return seconds > now ? "in \(distance)" : "\(distance) ago"
    }
}

/// Knows every API key and no secret: checks that `apikey` is a non-empty string, nothing more.
private struct PresenceOnly: KeyProvider {
    func verificationKey(for apiKey: String) -> VerificationKey? {
        VerificationKey(secrets: [])
    }
}
