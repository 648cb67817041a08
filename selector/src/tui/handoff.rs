//! After the UI: the picked URL goes to a stream client (`--player`, or
//! the first of ffplay, mpv and vlc on PATH), or to stdout (`--print`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Players tried in this order when `--player` is not given, each with
/// the arguments that suit a stream URL.
pub const PLAYERS: [(&str, &str); 3] =
    [("ffplay", "ffplay -autoexit {url}"), ("mpv", "mpv {url}"), ("vlc", "vlc --play-and-exit {url}")];

/// An executable file named `name` in one of the directories of `path`
/// (a `PATH`-style list).
pub fn find_on_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The command template of the first known player on `path`.
pub fn default_player(path: Option<&OsStr>) -> Option<String> {
    let path = path?;
    PLAYERS
        .iter()
        .find(|(name, _)| find_on_path(name, path).is_some())
        .map(|(_, template)| (*template).to_string())
}

/// `text` as one word for `sh`: in single quotes, with each `'` closed,
/// escaped and reopened.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The shell command that plays `url`: the template with every `{url}`
/// replaced by the quoted URL, or the quoted URL appended when the
/// template has no `{url}`.
pub fn player_command(template: &str, url: &str) -> String {
    let quoted = shell_quote(url);
    if template.contains("{url}") {
        template.replace("{url}", &quoted)
    } else {
        format!("{} {quoted}", template.trim_end())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;

    #[test]
    fn commands_quote_the_url() {
        assert_eq!(player_command("ffplay {url}", "rtsp://a/b"), "ffplay 'rtsp://a/b'");
        assert_eq!(player_command("mpv --fs ", "http://a/x?y=1&z"), "mpv --fs 'http://a/x?y=1&z'");
        assert_eq!(player_command("vlc {url}", "rtsp://a/it's"), r"vlc 'rtsp://a/it'\''s'");
    }

    #[test]
    fn players_are_found_on_the_path() {
        let dir = std::env::temp_dir().join(format!("bourse-players-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = std::env::temp_dir().join(format!("bourse-no-players-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let path = std::env::join_paths([&empty, &dir]).unwrap();
        assert_eq!(default_player(Some(&path)), None);
        let mpv = dir.join("mpv");
        std::fs::write(&mpv, "#!/bin/sh\n").unwrap();
        assert_eq!(default_player(Some(&path)), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&mpv, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(default_player(Some(&path)).as_deref(), Some("mpv {url}"));
        std::fs::write(dir.join("ffplay"), "").unwrap();
        std::fs::set_permissions(dir.join("ffplay"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(default_player(Some(&path)).as_deref(), Some("ffplay -autoexit {url}"), "ffplay first");
        assert_eq!(default_player(None), None);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&empty);
    }
}
