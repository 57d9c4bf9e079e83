import ArgumentParser
import Foundation
import LoraTopConfig

/// The `loratop` command: an interactive terminal trainer for LoRA and QLoRA adapters.
@main
struct LoraTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loratop",
        abstract: "Watch and steer LoRA / QLoRA fine-tuning from a terminal.",
        version: loratopVersion,
        subcommands: [Train.self, Resume.self, Attach.self, List.self, Send.self, Stop.self, Logs.self, Generate.self, Tokenize.self, Estimate.self, Bench.self, Export.self, Plot.self, Inspect.self, FetchModel.self]
    )

    /// Takes ownership of the signals before anything else can start a thread, then runs the command. A misspelt
    /// subcommand gets the nearest one suggested; an error a subcommand throws while running is reported with that
    /// subcommand's usage (`loratop train --help`), not the root's.
    static func main() {
        ProcessSignals.install()
        let arguments = Array(CommandLine.arguments.dropFirst())
        let names = configuration.subcommands.map { $0._commandName }
        if let first = arguments.first, !first.hasPrefix("-"), first != "help", !names.contains(first) {
            let hint = Nearest.match(to: first, in: names).map { "; did you mean `loratop \($0)`?" } ?? ""
            Output.err("Error: unknown command `\(first)`\(hint)\n  the commands: \(names.joined(separator: ", "))\n"
                       + "  See 'loratop --help' for more information.\n")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            exit(reporting: error)
        }
        do {
            try command.run()
        } catch let error as ValidationError {
            let sub = type(of: command)
            Output.err("Error: \(sub.message(for: error))\nUsage: \(usageString(for: sub))\n"
                       + "  See 'loratop \(sub._commandName) --help' for more information.\n")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            type(of: command).exit(reporting: error)
        }
    }
}

extension ParsableCommand {
    /// Ends the process for `error` as ArgumentParser would (help and version on stdout with status 0, errors on
    /// stderr with theirs), but through `Output`: spelled in ASCII under a non-UTF-8 locale, never trapping on a
    /// closed stdout.
    static func exit(reporting error: Error) -> Never {
        let code = exitCode(for: error)
        let message = fullMessage(for: error)
        if !message.isEmpty {
            Output.write(message.hasSuffix("\n") ? message : message + "\n", to: code == .success ? STDOUT_FILENO : STDERR_FILENO)
        }
        Foundation.exit(code.rawValue)
    }
}
