//! The interactive shell: a rustyline prompt naming the database directory, `(TX)` while a
//! transaction is open.

use std::io::{self, Write};
use std::path::Path;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::commands::Session;
use crate::reply::Format;
use crate::split::split_line;
use crate::{answer_help, is_quit, run_command};

/// The prompt's name for the database: the directory's last component.
fn db_name(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.file_name()
        .unwrap_or(dir.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Reads and runs commands until end of input or `quit`.
///
/// # Errors
/// If the terminal cannot be read or standard output written.
pub fn run(session: &mut Session, dir: &Path, format: Format) -> anyhow::Result<()> {
    let name = db_name(dir);
    let mut editor = DefaultEditor::new()?;
    loop {
        let prompt = if session.in_transaction() {
            format!("{name}(TX)> ")
        } else {
            format!("{name}> ")
        };
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let args = match split_line(line.as_bytes()) {
            Ok(args) => args,
            Err(e) => {
                let mut out = io::stdout().lock();
                writeln!(out, "{e}")?;
                out.flush()?;
                continue;
            }
        };
        if args.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        if is_quit(&args) {
            return Ok(());
        }
        if answer_help(&args)? {
            continue;
        }
        run_command(session, format, &args)?;
    }
}
