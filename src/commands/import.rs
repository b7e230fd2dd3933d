//! `IMPORT ... FORMAT RESP` ([`Db::import_resp`]): a file of commands in the Redis protocol,
//! checked against the command table, then run in bounded transactions through the command
//! layer (which is why it lives here, above `tools`, where the JSON Lines import is).

use std::io::{self, Read, Seek, SeekFrom};

use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::tools::dump::{BATCH_KEYS, INPUT, MEMBER_OVERHEAD, RESP_BATCH_BYTES};
use crate::ImportStats;

impl Db {
    /// Runs the commands of a file in the Redis protocol: what [`Db::export`] writes in
    /// [`ExportFormat::Resp`](crate::ExportFormat::Resp), and what `redis-cli --pipe` sends (RESP arrays of bulk
    /// strings; inline commands too). Returns the number of commands run in
    /// [`ImportStats::commands`].
    ///
    /// The input is read twice. First every command is decoded and checked against the
    /// command table (its name, its number of arguments, its syntax) and nothing is written
    /// if one is malformed, or cannot run inside a transaction (`MULTI`, `SUBSCRIBE`,
    /// `COMPACT`, `IMPORT`, ... are refused), or needs more bytes than one transaction can
    /// write: a bulk length read
    /// from the file is never allocated ahead, so memory stays bounded by the largest
    /// command. Then the commands run in batches of up to 1000 per transaction (fewer when
    /// their arguments reach 1 MiB). The first command that fails
    /// (`WRONGTYPE` against a key of another type) ends the import: its batch is rolled
    /// back and the batches before it stay written, as after a crash mid-import.
    ///
    /// # Errors
    /// [`Error::BadImportLine`] for a malformed or refused command, or one that failed,
    /// naming the line of the file it starts on; [`Error::Io`] if `input` cannot be read;
    /// the errors of a write transaction.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ExportFormat;
    /// db.set(b"k", "v")?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "b"]))?;
    /// let mut dump = Vec::new();
    /// db.export(ExportFormat::Resp, &mut dump)?;
    /// let other = ziggydb::Db::open(dir.path().join("other"))?;
    /// let stats = other.import_resp(std::io::Cursor::new(dump))?;
    /// assert_eq!(stats.commands, 4); // DEL, SET, DEL, RPUSH
    /// assert_eq!(other.list(b"l").len()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn import_resp<R: Read + Seek>(&self, mut input: R) -> Result<ImportStats> {
        // One command at most a segment's transaction (not a large segment's): the buffer a
        // command's announced lengths take is bounded by it before any is read.
        let limit = self.inner.segment_txn_bytes();
        each_command(&mut input, limit, |line, args| {
            check_command(args).map_err(|reason| Error::BadImportLine { line, reason })
        })?;
        input
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(INPUT, e))?;
        // Argument bytes per transaction: a collection's members cost the transaction some
        // 30 times their bytes in tree pages until it commits (measured: 16 MiB of HSET
        // and RPUSH arguments held 500 MB), so the batches are small.
        let budget = (limit / 4).min(RESP_BATCH_BYTES);
        let mut tx: Option<WriteTxn> = None;
        let (mut in_batch, mut bytes) = (0u64, 0usize);
        let mut stats = ImportStats::default();
        let result = each_command(&mut input, limit, |line, args| {
            if in_batch >= BATCH_KEYS || bytes >= budget {
                if let Some(full) = tx.take() {
                    full.commit()?;
                }
                (in_batch, bytes) = (0, 0);
            }
            if tx.is_none() {
                tx = Some(self.begin_write()?);
            }
            let open = tx.as_mut().ok_or(Error::Poisoned)?;
            let reply = crate::commands::execute_in(self, open, args);
            if let crate::commands::Reply::Error(e) = reply {
                return Err(Error::BadImportLine {
                    line,
                    reason: format!(
                        "{} failed: {e} (the batch of commands it was in is not written)",
                        String::from_utf8_lossy(args[0]).to_ascii_uppercase()
                    ),
                });
            }
            in_batch += 1;
            bytes += args
                .iter()
                .map(|a| a.len() + MEMBER_OVERHEAD)
                .sum::<usize>();
            stats.commands += 1;
            Ok(())
        });
        match result {
            Ok(()) => {
                if let Some(tx) = tx.take() {
                    tx.commit()?;
                }
                Ok(stats)
            }
            Err(e) => {
                if let Some(tx) = tx.take() {
                    tx.rollback();
                }
                Err(e)
            }
        }
    }
}

/// Whether an import may run `args`: a known data command, well formed.
fn check_command(args: &[&[u8]]) -> std::result::Result<(), String> {
    let name = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
    let Some(spec) = crate::commands::lookup(args[0]) else {
        return Err(format!("unknown command '{name}'"));
    };
    if matches!(
        spec.kind,
        crate::commands::Kind::Admin | crate::commands::Kind::Control
    ) {
        return Err(format!(
            "{name} cannot run in an import, which runs the commands that read or write keys"
        ));
    }
    match crate::commands::parse(args) {
        Ok(_) => Ok(()),
        Err(crate::commands::Reply::Error(e)) => Err(e),
        Err(other) => Err(format!("{name}: {other:?}")),
    }
}

/// Reads the commands of `input` in the Redis protocol, calling `f` with the line each
/// starts on (counting every `\n` before it, from 1) and its arguments. Blank lines and
/// empty arrays are skipped. A command that would need more than `limit` bytes of buffer
/// is an error, found before more of it is read.
fn each_command(
    input: &mut impl Read,
    limit: usize,
    mut f: impl FnMut(u64, &[&[u8]]) -> Result<()>,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut line = 1u64;
    let mut ended = false;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        loop {
            match crate::commands::decode_request(&buf[start..]) {
                Ok(Some((argv, used))) => {
                    let at = line;
                    line += buf[start..start + used]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count() as u64;
                    start += used;
                    if !argv.is_empty() {
                        f(at, &crate::commands::as_args(&argv))?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Error::BadImportLine {
                        line,
                        reason: e.to_string(),
                    })
                }
            }
        }
        buf.drain(..start);
        start = 0;
        if ended {
            if buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            return Err(Error::BadImportLine {
                line,
                reason: format!(
                    "the file ends in the middle of a command ({} bytes of it)",
                    buf.len()
                ),
            });
        }
        if buf.len() > limit {
            return Err(Error::BadImportLine {
                line,
                reason: format!(
                    "a command of more than {limit} bytes, more than one transaction can write"
                ),
            });
        }
        if let Some(need) = declared_len(&buf) {
            if need > limit {
                return Err(Error::BadImportLine {
                    line,
                    reason: format!(
                        "a command declares {need} bytes, more than one transaction can write \
                         ({limit} bytes)"
                    ),
                });
            }
        }
        let n = loop {
            match input.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(INPUT, e)),
            }
        };
        if n == 0 {
            ended = true;
            // An inline command on the last line needs no newline.
            if !buf.is_empty() && buf[0] != b'*' && !buf.ends_with(b"\n") {
                buf.extend_from_slice(b"\r\n");
            }
        } else {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The bytes the multibulk command at the start of `buf` declares so far: the lengths of
/// the bulk strings whose headers have arrived (each with its header and CRLF), so that a
/// huge length is refused when its header is read rather than after its bytes.
fn declared_len(buf: &[u8]) -> Option<usize> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let line_end = |from: usize| -> Option<(usize, usize)> {
        let cr = buf.get(from..)?.iter().position(|&b| b == b'\r')?;
        let text = std::str::from_utf8(&buf[from..from + cr]).ok()?;
        Some((text.parse::<usize>().ok()?, from + cr + 2))
    };
    let (count, mut pos) = line_end(1)?;
    let mut total = pos;
    for _ in 0..count {
        if buf.get(pos) != Some(&b'$') {
            return Some(total);
        }
        let Some((len, data)) = line_end(pos + 1) else {
            return Some(total);
        };
        total = data.saturating_add(len).saturating_add(2);
        pos = total;
    }
    Some(total)
}
