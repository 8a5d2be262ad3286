/// Durations for people: "2 h 3 min", "45 s", "3 d 4 h" (the two largest units).
public enum RelativeTime {
    public static func describe(_ seconds: Double) -> String {
        var remaining = Int(abs(seconds).rounded(.down))
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
