//! Reading a password or a secret from stdin without showing it: at a
//! terminal, the echo is off while it is typed.

use std::io::{BufRead as _, Write as _};
use std::process::{Command, Stdio};

use anyhow::Context as _;

/// Turns the terminal's echo off until dropped.
struct NoEcho;

impl NoEcho {
    fn new() -> Self {
        let _ = Command::new("stty")
            .arg("-echo")
            .stdin(Stdio::inherit())
            .status();
        Self
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = Command::new("stty")
            .arg("echo")
            .stdin(Stdio::inherit())
            .status();
    }
}

/// One line of stdin; at a terminal, after `prompt` and without echo.
pub(crate) fn read_quietly(prompt: Option<&str>, what: &str) -> anyhow::Result<String> {
    let _quiet = prompt.map(|prompt| {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        NoEcho::new()
    });
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read {what} from stdin"))?;
    if prompt.is_some() {
        eprintln!();
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
