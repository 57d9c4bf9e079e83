import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The checks a run makes on the paths it will write (its output folder, its metrics file) before anything slow: a
/// read-only filesystem, a permission problem or a path through a file is a sentence naming the path at once, never a
/// Foundation error dump after the model has loaded.
public enum WritablePath {
    /// Creates `folder` and any missing parents, then checks that files can be made in it. `hint` says what to do
    /// instead (e.g. "choose another --output").
    public static func prepareFolder(_ folder: String, hint: String) throws {
        func fail(_ why: String) -> FileError { FileError(path: folder, message: "cannot create the output folder: " + why, hint: hint) }
        var prefix = folder.hasPrefix("/") ? "" : "."
        for part in folder.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            var st = stat()
            if stat(prefix, &st) == 0 {
                guard st.st_mode & S_IFMT == S_IFDIR else {
                    let what = st.st_mode & S_IFMT == S_IFREG ? "a file" : RegularFile.kind(st.st_mode)
                    throw fail("\(prefix) is \(what), not a folder")
                }
                continue
            }
            guard errno == ENOENT else {
                throw fail("\(prefix): \(String(cString: strerror(errno)))")
            }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw fail("\(String(cString: strerror(errno))) (in \(AtomicFile.folder(of: prefix)))")
            }
        }
        guard access(folder, W_OK | X_OK) == 0 else {
            throw FileError(path: folder, message: "the output folder is not writable: \(String(cString: strerror(errno)))", hint: hint)
        }
    }

    /// Checks that `file` can be created or written: absent or a regular file that is writable, in a folder that
    /// exists and is writable. Nothing is created or truncated (a run that fails to start leaves an old file whole).
    public static func checkFile(_ file: String, hint: String) throws {
        var st = stat()
        if stat(file, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw FileError(path: file, message: "is \(RegularFile.kind(st.st_mode)); expected a file to write", hint: hint)
            }
            guard access(file, W_OK) == 0 else {
                throw FileError(path: file, message: "cannot be written: \(String(cString: strerror(errno)))", hint: hint)
            }
            return
        }
        let folder = AtomicFile.folder(of: file)
        guard stat(folder, &st) == 0 else {
            throw FileError(path: file, message: "cannot be created: \(folder): \(String(cString: strerror(errno)))", hint: hint)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw FileError(path: file, message: "cannot be created: \(folder) is not a folder", hint: hint)
        }
        guard access(folder, W_OK | X_OK) == 0 else {
            throw FileError(path: file, message: "cannot be created: \(folder) is not writable: \(String(cString: strerror(errno)))", hint: hint)
        }
    }
}
