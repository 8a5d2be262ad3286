import AdmitToken
import Crypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Sign/s and verify/s for Admit on the seed's payload, one thread. Benchmarks/run.sh
// prints these beside the HMAC floor and peer libraries measured in the same run.

let secretText = "8f2a5c0b1d9e4f7a6b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
let apiKey = "1b7f3e0c-4f5d-4d3a-9a51-7c9e2a6f0b42"
let secret = Secret(secretText)!
let now = TokenClock.system.now()
let claims = Claims(
    apiKey: apiKey, permissions: .allowJoin, lifetime: 7200, now: now, version: 2,
    roomId: "2kyv-gzay-64pg", participantId: "lxvdplwt", roles: [.crawler, .rtc])
let signer = Signer(secret: secret)
let token = signer.sign(claims)
let verifier = Verifier(keys: StaticKeys([apiKey: VerificationKey(secrets: [LiveSecret(secret)])]))

func seconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Operations per second: the median of five runs of about 0.4 s each.
func rate(_ body: () -> Int) -> Double {
    var sink = 0
    var rates: [Double] = []
    for _ in 0..<5 {
        var count = 0
        let start = seconds()
        var elapsed = 0.0
        repeat {
            for _ in 0..<2_000 { sink &+= body() }
            count += 2_000
            elapsed = seconds() - start
        } while elapsed < 0.4
        rates.append(Double(count) / elapsed)
    }
    if sink == 42 { print("") }
    return rates.sorted()[2]
}

/// Heap allocations per call, when the counting shim (Benchmarks/floor/malloc_count.c) is preloaded.
func allocations(_ body: () -> Int) -> Double? {
    typealias Counter = @convention(c) () -> UInt64
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "admit_malloc_count") else { return nil }
    let counter = unsafeBitCast(symbol, to: Counter.self)
    var sink = 0
    for _ in 0..<1_000 { sink &+= body() }
    let before = counter()
    for _ in 0..<10_000 { sink &+= body() }
    let after = counter()
    if sink == 42 { print("") }
    return Double(after - before) / 10_000
}

precondition((try? verifier.verify(token)) == claims, "the benchmark token must verify")

if CommandLine.arguments.contains("--signing-input") {
    print(token.split(separator: ".").prefix(2).joined(separator: "."))
    exit(0)
}

/// The measured operations capture locals, so that top-level globals' exclusivity checks are not measured.
func operations() -> (verify: () -> Int, sign: () -> Int) {
    let verifier = verifier, token = token, signer = signer, claims = claims
    return ({ (try? verifier.verify(token))?.permissions.rawValue.hashValue ?? -1 }, { signer.sign(claims).utf8.count })
}
let (verify, sign) = operations()
if let index = CommandLine.arguments.firstIndex(of: "--count"), let n = Int(CommandLine.arguments[index + 1]) {
    // A fixed number of operations, for instruction counts under callgrind.
    let body = CommandLine.arguments.contains("sign") ? sign : verify
    var sink = 0
    for _ in 0..<n { sink &+= body() }
    print("ran \(n) (\(sink & 1))")
} else if let only = CommandLine.arguments.firstIndex(of: "--only").map({ CommandLine.arguments[$0 + 1] }) {
    // For profilers: one operation alone.
    print("admit \(only)/s \(Int(rate(only == "sign" ? sign : verify)))")
} else if CommandLine.arguments.contains("--allocations") {
    // Run under LD_PRELOAD of the counting shim; timing runs go without it.
    guard let perVerify = allocations(verify), let perSign = allocations(sign) else {
        print("admit allocations: the counting shim is not preloaded")
        exit(1)
    }
    print("admit allocations/verify \(perVerify)")
    print("admit allocations/sign \(perSign)")
} else {
    print("admit verify/s \(Int(rate(verify)))")
    print("admit sign/s \(Int(rate(sign)))")
}

if CommandLine.arguments.contains("--hmac") {
    // Reference: swift-crypto's HMAC with its key schedule computed once, copied per call.
    let schedule = HMAC<SHA256>(key: SymmetricKey(data: Array(secretText.utf8)))
    let input = Array(token.split(separator: ".").prefix(2).joined(separator: ".").utf8)
    print(
        "swift-crypto hmac/s \(Int(rate { input.withUnsafeBytes { bytes in var h = schedule; h.update(data: bytes); return h.finalize().withUnsafeBytes { Int($0[0]) } } }))"
    )
    let inner = SHA256.self
    _ = inner
}

if CommandLine.arguments.contains("--hmac") {
    var key = [UInt8](secretText.utf8)
    key += [UInt8](repeating: 0, count: 64 - key.count)
    var innerState = SHA256()
    innerState.update(data: key.map { $0 ^ 0x36 })
    var outerState = SHA256()
    outerState.update(data: key.map { $0 ^ 0x5c })
    let input = Array(token.split(separator: ".").prefix(2).joined(separator: ".").utf8)
    let manual = rate {
        input.withUnsafeBytes { bytes in
            var inner = innerState
            inner.update(bufferPointer: bytes)
            let digest = inner.finalize()
            var outer = outerState
            digest.withUnsafeBytes { outer.update(bufferPointer: $0) }
            return outer.finalize().withUnsafeBytes { Int($0[0]) }
        }
    }
    print("sha256-hmac/s \(Int(manual))")
}
