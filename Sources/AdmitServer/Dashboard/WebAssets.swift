/// The dashboard's and the meeting page's files (`Dashboard/Web/`), embedded by SwiftPM.
enum WebAssets {
    static let files: [String: [UInt8]] = [
        "dashboard.html": PackageResources.dashboard_html, "meet.html": PackageResources.meet_html,
        "style.css": PackageResources.style_css, "dashboard.js": PackageResources.dashboard_js, "meet.js": PackageResources.meet_js,
        "common.js": PackageResources.common_js, "favicon.svg": PackageResources.favicon_svg,
    ]
}
