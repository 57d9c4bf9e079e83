// swift-tools-version:6.0
import PackageDescription

let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "loratop",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "loratop", targets: ["loratop"]),
        .library(name: "LoRAKit", targets: ["LoRAKit"]),
        .library(name: "TerminalUI", targets: ["TerminalUI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // OpenBLAS through pkg-config (Debian: libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN (Debian: libdnnl-dev): bf16 products with fp32 accumulation on CPUs that have them.
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // ncursesw plus a tiny C shim for what Swift cannot import (macros, varargs).
        .target(
            name: "CNCurses",
            cSettings: [.define("_XOPEN_SOURCE_EXTENDED"), .define("NCURSES_WIDECHAR", to: "1")],
            linkerSettings: [.linkedLibrary("ncursesw")]
        ),
        // POSIX calls Swift cannot import plainly (GNU extensions, signal dispositions).
        .target(name: "CPosix"),
        // Hot loops that need per-function CPU features (byte shuffles), chosen at run time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // The engine: knows nothing of terminals.
        .target(
            name: "LoRAKit",
            dependencies: ["CBLAS", "CDNNL", "CKernels"],
            swiftSettings: optimize
        ),
        // A small TUI toolkit: knows nothing of training.
        .target(
            name: "TerminalUI",
            dependencies: ["CNCurses"],
            swiftSettings: optimize
        ),
        // The run protocol: messages, framing, the server of one engine, the client, the registry of runs.
        .target(
            name: "RunLink",
            dependencies: ["LoRAKit"],
            swiftSettings: optimize
        ),
        // The run file (`--config run.yaml`): its keys, their checks and the messages about them.
        .target(
            name: "LoraTopConfig",
            dependencies: ["LoRAKit", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "loratop",
            dependencies: [
                "LoRAKit", "TerminalUI", "RunLink", "CPosix", "LoraTopConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: optimize
        ),
        // libFuzzer targets for every file parser (docs/fuzzing.md); the ordinary build replays corpora through them.
        .executableTarget(
            name: "loratop-fuzz",
            dependencies: ["LoRAKit", "TerminalUI", "RunLink", "LoraTopConfig"],
            path: "Sources/loratop-fuzz"
        ),
        .testTarget(name: "LoRAKitTests", dependencies: ["LoRAKit", "CKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TerminalUITests", dependencies: ["TerminalUI"]),
        .testTarget(name: "RunLinkTests", dependencies: ["RunLink", "LoRAKit"]),
        .testTarget(name: "loratopTests", dependencies: ["loratop", "LoRAKit", "TerminalUI", "RunLink", "LoraTopConfig"]),
    ],
    swiftLanguageModes: [.v5]
)
