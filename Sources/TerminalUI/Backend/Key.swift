/// A key press, decoded from curses input. Mouse events are not reported.
public enum Key: Hashable, Sendable, CustomStringConvertible {
    /// A printable character (including space).
    case char(Character)
    /// Control plus a letter, lower case (e.g. `.ctrl("l")` for Ctrl-L). Enter, Tab, Backspace and Esc have their own cases.
    case ctrl(Character)
    /// Function key F1…F63.
    case function(Int)
    /// Arrow up.
    case up
    /// Arrow down.
    case down
    /// Arrow left.
    case left
    /// Arrow right.
    case right
    /// Home.
    case home
    /// End.
    case end
    /// Page up.
    case pageUp
    /// Page down.
    case pageDown
    /// Insert.
    case insert
    /// Delete.
    case delete
    /// Backspace.
    case backspace
    /// Enter / Return.
    case enter
    /// Tab.
    case tab
    /// Shift-Tab.
    case backTab
    /// Escape.
    case escape
    /// The terminal was resized; read the new size from the backend.
    case resize
    /// Something else (a curses key code or control byte).
    case unknown(UInt32)

    /// A short human name: `q`, `Ctrl-L`, `F1`, `Up`, `Enter`, …
    public var description: String {
        switch self {
        case .char(" "): return "Space"
        case .char(let c): return String(c)
        case .ctrl(let c): return "Ctrl-" + String(c).uppercased()
        case .function(let n): return "F\(n)"
        case .up: return "Up"
        case .down: return "Down"
        case .left: return "Left"
        case .right: return "Right"
        case .home: return "Home"
        case .end: return "End"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .insert: return "Ins"
        case .delete: return "Del"
        case .backspace: return "Backspace"
        case .enter: return "Enter"
        case .tab: return "Tab"
        case .backTab: return "Shift-Tab"
        case .escape: return "Esc"
        case .resize: return "Resize"
        case .unknown(let v): return "key(\(v))"
        }
    }

    /// curses key codes (octal values from curses.h) used by `decode`.
    enum Code {
        static let down: UInt32 = 0o402, up: UInt32 = 0o403, left: UInt32 = 0o404, right: UInt32 = 0o405
        static let home: UInt32 = 0o406, backspace: UInt32 = 0o407, f0: UInt32 = 0o410
        static let delete: UInt32 = 0o512, insert: UInt32 = 0o513, pageDown: UInt32 = 0o522, pageUp: UInt32 = 0o523
        static let enter: UInt32 = 0o527, backTab: UInt32 = 0o541, end: UInt32 = 0o550
        static let mouse: UInt32 = 0o631, resize: UInt32 = 0o632
    }

    /// Decodes one input from `wget_wch`: `isKeyCode` when it returned KEY_CODE_YES. Returns nil for mouse events.
    public static func decode(_ value: UInt32, isKeyCode: Bool) -> Key? {
        if isKeyCode {
            switch value {
            case Code.up: return .up
            case Code.down: return .down
            case Code.left: return .left
            case Code.right: return .right
            case Code.home: return .home
            case Code.end: return .end
            case Code.pageUp: return .pageUp
            case Code.pageDown: return .pageDown
            case Code.insert: return .insert
            case Code.delete: return .delete
            case Code.backspace: return .backspace
            case Code.enter: return .enter
            case Code.backTab: return .backTab
            case Code.resize: return .resize
            case Code.mouse: return nil
            case Code.f0 + 1...Code.f0 + 63: return .function(Int(value - Code.f0))
            default: return .unknown(value)
            }
        }
        switch value {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 0: return .ctrl(" ")
        case 1...26: return .ctrl(Character(Unicode.Scalar(value + 96) ?? "?"))
        case 28...31: return .unknown(value)
        default:
            guard let scalar = Unicode.Scalar(value) else { return .unknown(value) }
            return .char(Character(scalar))
        }
    }
}
