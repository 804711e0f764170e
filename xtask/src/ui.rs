//! Progress lines in the style of `./dev`: `==> step` in bold, details indented under it, all on
//! stderr so that stdout stays for what a command prints on purpose (the URL block, test
//! output).

use std::fmt::Display;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// The workspace root: every path xtask prints is shown relative to it when inside it.
pub static ROOT: LazyLock<PathBuf> = LazyLock::new(|| {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
});

fn styled(code: &str, text: &str) -> String {
    // Escapes only for a terminal: CI logs stay plain text.
    if std::io::stderr().is_terminal() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// A step: `==> message`.
pub fn say(message: impl Display) {
    eprintln!("{}", styled("1", &format!("==> {message}")));
}

/// A detail of the current step, indented.
pub fn note(message: impl Display) {
    eprintln!("    {message}");
}

/// The final word on a failure.
pub fn error(message: impl Display) {
    eprintln!("{} {message}", styled("31", "error:"));
}

/// `path` relative to the workspace root when it lies inside it (`.data/logs/edge.log`), else
/// as it is (a temporary folder).
pub fn shown(path: &Path) -> String {
    path.strip_prefix(&*ROOT)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The last `lines` lines of a log file, or a line saying it could not be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({} could not be read: {e})", shown(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_paths_inside_the_workspace_relative_to_it() {
        assert_eq!(
            shown(&ROOT.join(".data/logs/edge.log")),
            ".data/logs/edge.log"
        );
        assert_eq!(
            shown(Path::new("/tmp/ptb-test.x/logs")),
            "/tmp/ptb-test.x/logs"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("x.log");
        std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail(&log, 2), "two\nthree");
        assert_eq!(tail(&log, 10), "one\ntwo\nthree");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
