import AdmitApp
import AdmitToken
import Foundation

/// `/get-token` over HTTP, for the router and for the fast path (`FastPath`): who the client
/// is (the connection's address, or behind a trusted proxy the address it forwarded for),
/// then `TokenMint`, so both give the same token or the same refusal.
struct TokenEndpoint: Sendable {
    let services: Services
    let mint: TokenMint

    init(services: Services) {
        self.services = services
        self.mint = services.tokenMint
    }

    /// The configured policy, or in dev mode the dev key with the examples' permissions; nil when `/get-token` is off.
    static func policy(_ configuration: AppConfiguration, devKey: String?) -> TokenPolicy? {
        if let endpoint = configuration.tokenEndpoint {
            return TokenPolicy(apiKey: endpoint.apiKey, permissions: endpoint.permissions, maxLifetime: endpoint.maxLifetime)
        }
        // Dev mode keeps the official examples' permissions; a configured endpoint defaults to allow_join.
        if let devKey { return TokenPolicy(apiKey: devKey, permissions: [.allowJoin, .allowMod], maxLifetime: 7200) }
        return nil
    }

    func token(roomId: String?, peerId: String?, origin: String?, remote: String?, forwardedFor: String?) throws(APIError) -> String {
        let client = services.clientAddress.resolve(remote: remote, forwardedFor: forwardedFor)
        return try mapped { () throws(AppError) in try mint.token(roomId: roomId, peerId: peerId, origin: origin, client: client) }
    }

    /// The response body: `{"token":"..."}`, written directly (a token is base64url and dots).
    static func body(_ token: String) -> String {
        #"{"token":""# + token + #""}"#
    }
}
