public import AdmitToken

/// Why a use case refused, in the application's terms: each transport maps it once (HTTP
/// status and the contract's body, a `/rtc` reply code, a CLI message), so the rules are
/// written here and nowhere else.
public struct AppError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The input is wrong (400).
        case invalid
        /// What it names does not exist (404).
        case notFound
        /// The state does not allow it now, or it changed meanwhile (409).
        case conflict
        /// The caller may not do this (403).
        case forbidden
        /// The caller asked too often (429).
        case tooManyRequests
        /// Something it needs is off or missing (503).
        case unavailable
        /// Admit failed (500); the message says nothing about why.
        case failed
    }

    public var kind: Kind
    /// The contract code a client reads, where one applies (4015, 4021, ...).
    public var code: ErrorCode?
    public var message: String
    /// A refused token (verification steps 1-9): answered with the token error's own body, and
    /// its status unless `status` says otherwise (a join to an unknown room is 404).
    public var token: TokenError?
    public var status: Int?

    public init(_ kind: Kind, _ message: String, code: ErrorCode? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    /// A token refused, or a valid token used where it may not be.
    public static func token(_ error: TokenError, status: Int? = nil) -> AppError {
        var refusal = AppError(.forbidden, error.detail, code: error.code)
        refusal.token = error
        refusal.status = status
        return refusal
    }

    /// A contract code with its own status (`{"code": 4009, ...}` with 403, ...).
    public static func code(_ code: ErrorCode, kind: Kind, message: String? = nil) -> AppError {
        AppError(kind, message ?? code.message, code: code)
    }

    public var description: String { message }

    package static func invalid(_ message: String) -> AppError { AppError(.invalid, message) }
    package static func notFound(_ message: String) -> AppError { AppError(.notFound, message) }
    package static func conflict(_ message: String) -> AppError { AppError(.conflict, message) }
}
