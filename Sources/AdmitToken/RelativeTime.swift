/// Durations for people: "2 h 3 min", "45 s", "3 d 4 h" (the two largest units).
///
/// Total for every Double: token times come from signed but untrusted payloads, so a
/// distance of 1e19 or 1e300 seconds (or infinity) must read as words, never trap.
public enum RelativeTime {
    /// Beyond this many seconds (about 31,700 years) a distance is told as "more than 30000 years".
    static let longest: Double = 1e12

    public static func describe(_ seconds: Double) -> String {
        let magnitude = seconds.magnitude
        guard magnitude.isFinite, magnitude < longest else {
            return magnitude.isNaN ? "an unknown time" : "more than 30000 years"
        }
        // Below 1e12 the conversion is exact enough and cannot overflow.
        var remaining = Int(magnitude.rounded(.down))
        guard remaining > 0 else { return "0 s" }
        let units: [(String, Int)] = [("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)]
        var parts: [String] = []
        for (name, size) in units where remaining >= size && parts.count < 2 {
            parts.append("\(remaining / size) \(name)")
            remaining %= size
        }
        return parts.joined(separator: " ")
    }

    /// "expires in 1 h 59 min" or "expired 2 h 3 min ago".
    public static func expiry(_ expiresAt: Double, now: Double) -> String {
        expiresAt > now ? "expires in \(describe(expiresAt - now))" : "expired \(describe(now - expiresAt)) ago"
    }
}
