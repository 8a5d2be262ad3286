import AdmitCore
import AdmitToken
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat

/// Reads a JSON request body into `T`, with errors a client can act on: 413 over the
/// size limit, 400 naming the field that is missing or of the wrong type. An empty body
/// reads as `{}`.
func decodeBody<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AppContext) async throws -> T {
    let data = try await bodyData(request, context)
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as DecodingError {
        throw APIError.badRequest(describe(error))
    } catch let error as APIError {
        throw error
    } catch {
        throw APIError.badRequest("The request body is not valid JSON.")
    }
}

/// Reads a JSON request body as a `JSONValue` (for documents checked field by field, such as
/// settings), with the same limits and errors as `decodeBody`. An empty body reads as `{}`.
func decodeJSON(_ request: Request, _ context: AppContext) async throws -> JSONValue {
    let data = try await bodyData(request, context)
    guard let value = try? JSONValue(parsing: String(decoding: data, as: UTF8.self)) else {
        throw APIError.badRequest("The request body is not valid JSON.")
    }
    guard case .object = value else { throw APIError.badRequest("The request body must be a JSON object.") }
    return value
}

/// A body of named fields, as JSON (`{"roomId": "..."}`) or as an HTML form (`roomId=...`):
/// the SDK preflights get both (the Flutter SDK posts a form). Told apart by the body itself,
/// as many clients (curl -d, Python's urllib) label JSON as a form. Each of `names` must be a
/// string of at most its limit in bytes when present; other fields are left alone (the SDKs
/// send more than Admit reads).
func decodeFields(_ limits: [String: Int], _ request: Request, _ context: AppContext) async throws -> [String: String] {
    let text = String(decoding: try await bodyData(request, context), as: UTF8.self)
    var fields: [String: String] = [:]
    if text.first(where: { !$0.isWhitespace }) == "{" {
        guard case .object(let members)? = try? JSONValue(parsing: text) else {
            throw APIError.badRequest("The request body must be a JSON object or a form.")
        }
        for member in members where member.value != .null && limits[member.key] != nil {
            guard let value = member.value.stringValue else { throw APIError.badRequest("`\(member.key)` must be a string.") }
            fields[member.key] = value
        }
    } else {
        let query = FormQuery(text[...])
        for name in limits.keys { fields[name] = query[name] }
    }
    for (name, value) in fields where value.utf8.count > limits[name] ?? 0 {
        throw APIError.badRequest("`\(name)` must be at most \(limits[name] ?? 0) bytes.")
    }
    return fields
}

private func bodyData(_ request: Request, _ context: AppContext) async throws -> Data {
    let buffer: ByteBuffer
    do {
        let body = request.body
        buffer = try await body.collect(upTo: context.maxUploadSize)
    } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
        throw APIError(.contentTooLarge, "The request body is larger than \(context.maxUploadSize) bytes.")
    }
    return buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer: buffer)
}

/// A JSON document answered as it is (settings, effective configurations, jobs).
struct JSONResponse: ResponseGenerator, Sendable {
    var value: JSONValue
    var status: HTTPResponse.Status = .ok
    /// More headers (`Cache-Control`, `Set-Cookie`, ...).
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.jsonText)))
    }
}

private func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let context):
        let parent = path(context)
        return "`\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)` is required."
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
        return path(context).isEmpty ? "The request body must be a JSON object." : "`\(path(context))` has the wrong type."
    case .dataCorrupted(let context):
        if let message = context.underlyingError.flatMap({ $0 as? FieldError })?.message { return message }
        return path(context).isEmpty ? "The request body is not valid JSON." : "`\(path(context))` is invalid: \(context.debugDescription)"
    @unknown default:
        return "The request body is invalid."
    }
}

/// A field-level validation error raised while decoding, with the sentence to answer.
struct FieldError: Error {
    let message: String
}

extension Decoder {
    /// Throws a 400 naming `field`.
    func invalid(_ message: String) -> any Error {
        DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: message, underlyingError: FieldError(message: message)))
    }
}

/// Reads `page` and `perPage` (defaults 1 and 20, at most 100 per page).
func pagination(_ request: Request) throws(APIError) -> (page: Int, perPage: Int) {
    let query = FormQuery(request.uri.query?[...])
    func read(_ name: String, default value: Int, max: Int) throws(APIError) -> Int {
        guard let text = query[name] else { return value }
        guard let number = Int(text), number >= 1, number <= max else {
            throw APIError.badRequest("`\(name)` must be a whole number from 1 to \(max).")
        }
        return number
    }
    return (try read("page", default: 1, max: 1_000_000), try read("perPage", default: 20, max: 100))
}

/// The contract's list shape.
struct PageResponse<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    struct PageInfo: Encodable, Sendable {
        var currentPage: Int
        var perPage: Int
        var lastPage: Int
        var total: Int
    }
    var pageInfo: PageInfo
    var data: [Item]

    init(items: [Item], page: Int, perPage: Int, total: Int) {
        self.pageInfo = PageInfo(currentPage: page, perPage: perPage, lastPage: max(1, (total + perPage - 1) / perPage), total: total)
        self.data = items
    }
}

extension JSONValue {
    /// A page of JSON items in the same shape as `PageResponse`.
    static func page(items: [JSONValue], page: Int, perPage: Int, total: Int) -> JSONValue {
        func number(_ value: Int) -> JSONValue { .number(String(value)) }
        return .object([
            JSONMember(
                "pageInfo",
                .object([
                    JSONMember("currentPage", number(page)), JSONMember("perPage", number(perPage)),
                    JSONMember("lastPage", number(max(1, (total + perPage - 1) / perPage))), JSONMember("total", number(total)),
                ])),
            JSONMember("data", .array(items)),
        ])
    }
}
