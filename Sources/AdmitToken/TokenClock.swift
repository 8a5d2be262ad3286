#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Wall-clock time in seconds since 1970, injected so that tests fix the time.
public struct TokenClock: Sendable {
    public let now: @Sendable () -> Double

    public init(now: @escaping @Sendable () -> Double) {
        self.now = now
    }

    /// The system's real time. On Linux the coarse clock, which the kernel updates every
    /// tick (a few milliseconds) and reads without asking the time source: token times are
    /// whole seconds with a leeway of a minute, and reading it costs a fraction of the fine clock.
    public static let system = TokenClock {
        var time = timespec()
        #if os(Linux)
            clock_gettime(CLOCK_REALTIME_COARSE, &time)
        #else
            clock_gettime(CLOCK_REALTIME, &time)
        #endif
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }

    /// Always `seconds`.
    public static func fixed(_ seconds: Double) -> TokenClock {
        TokenClock { seconds }
    }
}
