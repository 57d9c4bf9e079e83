import Foundation
import LoRAKit

/// One line a viewer sent, read into what the server acts on. Reading is apart from acting so that every byte a
/// client controls goes through one function (the protocol fuzz target calls it as the server does).
public enum ViewerRequest: Sendable, Equatable {
    /// Spaces and tabs only: ignored.
    case blank
    /// The client's greeting, with the protocol version it speaks when it says.
    case hello(protocol: Int?)
    /// Start receiving the state and every event.
    case attach(AttachMessage)
    /// One line of the command language (parsed by the server, which answers with an ack either way).
    case command(CommandMessage)
    /// Are you there?
    case ping(id: String)
    /// The viewer is leaving.
    case detach
    /// A type this server does not know (a newer client may send more): ignored.
    case unknown

    /// Reads one line (without its newline). Throws `ProtocolRefusal` for a line that is not one JSON object with a
    /// string `type`, or whose fields do not fit its type: the server closes the connection with it.
    public static func read(_ line: [UInt8], decoder: JSONDecoder = WireCoding.decoder()) throws -> ViewerRequest {
        if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return .blank }
        guard let type = WireCoding.type(of: line, decoder: decoder) else {
            throw ProtocolRefusal(code: "malformed", message: "expected one JSON object with a \"type\" per line")
        }
        let data = Data(line)
        do {
            switch type {
            case "hello": return .hello(protocol: try decoder.decode(ClientHello.self, from: data).protocol)
            case "attach": return .attach(try decoder.decode(AttachMessage.self, from: data))
            case "command": return .command(try decoder.decode(CommandMessage.self, from: data))
            case "ping": return .ping(id: try decoder.decode(PingMessage.self, from: data).id)
            case "detach": return .detach
            default: return .unknown
            }
        } catch {
            throw ProtocolRefusal(code: "malformed",
                                  message: "a \"\(Printable.escaped(type, limit: 40))\" message could not be read: \(error)".prefix(300).description)
        }
    }
}

/// Why the server closes a connection because of what the client sent (sent to it as an `error` message).
public struct ProtocolRefusal: Error, Sendable, Equatable {
    /// Machine-readable: malformed, too_large, version.
    public let code: String
    /// For people.
    public let message: String
}

/// One line the run sent, read into what a viewer acts on.
public enum RunMessage: Sendable, Equatable {
    /// The whole state (on attach and whenever the viewer must start over).
    case state(StateMessage)
    /// The answer to a command.
    case ack(AckMessage)
    /// The run is closing this connection, and why.
    case error(ErrorMessage)
    /// Greetings and pongs: nothing to do once connected.
    case greeting
    /// A step, a change, a status or any other event.
    case event(EventMessage)

    /// Reads one line; nil for a line that is not a message this client can read (it is skipped).
    public static func read(_ line: [UInt8], decoder: JSONDecoder = WireCoding.decoder()) -> RunMessage? {
        guard let type = WireCoding.type(of: line, decoder: decoder) else { return nil }
        let data = Data(line)
        switch type {
        case "state": return (try? decoder.decode(StateMessage.self, from: data)).map(RunMessage.state)
        case "ack": return (try? decoder.decode(AckMessage.self, from: data)).map(RunMessage.ack)
        case "error": return (try? decoder.decode(ErrorMessage.self, from: data)).map(RunMessage.error)
        case "hello", "pong": return .greeting
        default: return (try? decoder.decode(EventMessage.self, from: data)).map(RunMessage.event)
        }
    }
}

/// A client's greeting (the server reads only what it needs).
struct ClientHello: Decodable {
    var type: String
    var `protocol`: Int?
    var client: String?
}
