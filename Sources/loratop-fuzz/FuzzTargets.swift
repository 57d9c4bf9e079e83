import Foundation
import LoRAKit
import LoraTopConfig
import RunLink
import TerminalUI

/// The parsers a person can hand loratop a file for, each a libFuzzer target. `LORATOP_FUZZ` picks one; the input
/// is the whole file. File-based parsers get the bytes in a file of the name they expect, in a folder of this
/// process's own. Whatever the bytes, a parser may throw but never trap, hang or allocate without bound.
enum FuzzTarget: String, CaseIterable {
    case gguf, safetensors, tokenizer, dataset, theme
    case peftConfig = "peft-config"
    case trainerState = "trainer-state"
    case yaml
    /// The run-server protocol both ways: what a viewer sends the server and what the run sends a viewer.
    case `protocol`

    /// Runs the parser on `bytes`.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .gguf:
            if let f = try? GGUFFile(mapped: MappedFile(bytes: bytes, name: "fuzz.gguf")) {
                _ = f.tensors.count
            }
        case .safetensors:
            if let f = try? SafetensorsFile(mapped: MappedFile(bytes: bytes, name: "fuzz.safetensors")) {
                for t in f.tensors.prefix(64) { _ = try? f.floats(t.name) }
            }
        case .tokenizer:
            // byte-level or SentencePiece-style (ExactJSON), and what it makes of text: a few words, then one long
            // enough to be merged in pieces
            if let tok = try? BPETokenizer.load(tokenizerJSON: Self.write(bytes, "tokenizer.json")) {
                _ = tok.encode("The lighthouse keeper wrote 42 lines.")
                _ = tok.encode(Self.longWord)
            }
        case .dataset:
            _ = try? DatasetFile(url: Self.write(bytes, "data"))  // no extension: the format is sniffed, text or JSONL
        case .theme:
            _ = ThemeParser.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.theme")
        case .peftConfig:
            let url = Self.write(bytes, "adapter_config.json")
            _ = try? PEFTAdapter.read(folder: url.deletingLastPathComponent().path)
        case .trainerState:
            let url = Self.write(bytes, "trainer_state.json")
            _ = try? Checkpoint.loadMeta(url.deletingLastPathComponent().path, as: [String: String].self)
        case .yaml:
            if let config = try? RunConfig.parse(String(decoding: bytes, as: UTF8.self), path: "fuzz.yaml") {
                _ = try? config.yaml()
            }
        case .protocol:
            Self.protocolLines(bytes)
        }
    }

    /// Frames `bytes` into lines as a connection does (with a small limit, so too-long lines are reached) and reads
    /// each as the server reads a viewer's line (a command line through the command parser) and as a viewer reads the
    /// run's (states and events applied to a mirror, as the dashboard of `loratop attach` draws from).
    static func protocolLines(_ bytes: [UInt8]) {
        var framer = LineFramer(limit: 4096)
        var mirror = SnapshotMirror()
        let decoder = WireCoding.decoder()
        for out in framer.feed(bytes) {
            guard case .line(let line) = out else { continue }
            if case .command(let m)? = try? ViewerRequest.read(line, decoder: decoder) {
                _ = try? Command.parse(m.line.trimmingCharacters(in: .whitespaces))
            }
            switch RunMessage.read(line, decoder: decoder) {
            case .state(let s)?: mirror.apply(s)
            case .event(let e)?: _ = mirror.apply(e)
            default: break
            }
        }
        _ = mirror.snapshot.version
    }

    /// 20,000 letters without a space (a word merged in pieces), in a pattern with repeats and rule-less neighbours.
    static let longWord: String = {
        let letters: [UInt8] = (0..<20_000).map { (i: Int) -> UInt8 in UInt8(97 + (i * 7 + i / 13) % 26) }
        return String(decoding: letters, as: UTF8.self)
    }()

    /// This process's folder for file inputs (removed at exit by the driver script, not here: libFuzzer exits hard).
    static let folder: URL = {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("loratop-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static func write(_ bytes: [UInt8], _ name: String) -> URL {
        let url = folder.appendingPathComponent(name)
        try? Data(bytes).write(to: url)
        return url
    }

    /// The target named by `LORATOP_FUZZ` (gguf when unset).
    static var selected: FuzzTarget {
        let name = ProcessInfo.processInfo.environment["LORATOP_FUZZ"] ?? "gguf"
        guard let t = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("loratop-fuzz: LORATOP_FUZZ=\(name) is not one of \(allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return t
    }
}

let fuzzTarget = FuzzTarget.selected

/// libFuzzer's entry point (a build with `-sanitize=fuzzer` links libFuzzer's main, which calls it).
@_cdecl("LLVMFuzzerTestOneInput")
public func loratopFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

#if FUZZING
/// libFuzzer's driver (in the runtime `-sanitize=fuzzer` links).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's entry as `<module>_main`; with no `@main` here, it hands over to libFuzzer.
@_cdecl("loratop_fuzz_main")
func loratopFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in loratopFuzzOne(data, size) }
}
#else
/// Without libFuzzer (the ordinary build): replays the files given (and every file under the folders given) through
/// the target, the smoke the test command runs so the targets keep building and the seeds keep parsing.
@main
struct FuzzReplay {
    static func main() {
        var count = 0
        let fm = FileManager.default
        for root in CommandLine.arguments.dropFirst() {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: root, isDirectory: &isDir) else { continue }
            let paths = isDir.boolValue
                ? ((fm.enumerator(atPath: root)?.allObjects as? [String]) ?? []).sorted().map { root + "/" + $0 } : [root]
            for path in paths {
                guard fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue, let data = fm.contents(atPath: path) else { continue }
                fuzzTarget.run([UInt8](data))
                count += 1
            }
        }
        try? FileManager.default.removeItem(at: FuzzTarget.folder)
        guard count > 0 else {
            FileHandle.standardError.write(Data("loratop-fuzz: \(fuzzTarget.rawValue): no inputs under \(CommandLine.arguments.dropFirst().joined(separator: " "))\n".utf8))
            exit(1)
        }
        print("loratop-fuzz: \(fuzzTarget.rawValue): replayed \(count) inputs")
    }
}
#endif
