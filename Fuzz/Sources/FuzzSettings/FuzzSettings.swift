import AdmitCore
import AdmitToken

/// libFuzzer target for the settings decoder (the dashboard's API Settings): validation,
/// PATCH merge, the lenient read of stored text, and precedence over what was accepted.
/// Whatever validates must read back the same from its stored form.
enum FuzzSettings {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard let document = try? JSONValue(parsing: String(decoding: input, as: UTF8.self)) else { return }
        _ = APISettings(stored: document)
        var base = APISettings()
        if let settings = try? APISettings(validating: document) {
            let stored = settings.json
            let reread = APISettings(stored: stored)
            precondition(reread.json.jsonText == stored.jsonText, "settings do not read back as they were stored")
            base = settings
            _ = Precedence.room(dashboard: settings, sdkMaxSendBitrate: "hd").json.jsonText
            for kind in JobKind.allCases { _ = try? Precedence.media(kind, dashboard: settings, request: MediaRequest(), source: .api) }
        }
        var patched = base
        if (try? patched.apply(patch: document)) == nil {
            precondition(patched.json.jsonText == base.json.jsonText, "a failed patch changed the settings")
        }
        _ = try? MediaRequest(config: document)
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        FuzzSettings.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point as `<module>_main`: hand over to libFuzzer's driver.
    @_cdecl("FuzzSettings_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return runDriver(&argc, &argv, fuzzOne)
    }
#else
    @main
    struct Usage {
        static func main() {
            print("A libFuzzer target: build and run it with Fuzz/run.sh.")
        }
    }
#endif
