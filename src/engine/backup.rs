//! `backup`: an online, consistent copy of the database into a new directory, while other
//! processes go on reading and writing (format-spec.md §12.1).
//!
//! Segments are append-only and never rewritten below the published end of the log, so the
//! copy needs no lock while it copies: it takes the compaction lock (no segment file is
//! deleted meanwhile), reads the manifest and the published end of the log under the writer
//! lock (one consistent point), and copies every listed segment, the active one only up to
//! that end. Opening the copy builds its index; the copy is then a database of its own.

use crate::progress::{self, Task, Unit};
use std::path::Path;

use crate::engine::Shared;
use crate::error::{Error, Result};
use crate::format::segment::file_name;
use crate::format::shm::*;

/// Bytes copied per write.
const CHUNK: usize = 1 << 20;

/// What [`crate::Db::backup`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupStats {
    /// Segment files copied.
    pub segments: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Keys in the copy.
    pub keys: u64,
}

impl Shared {
    /// Copies the database into `dest`, which must not exist or be an empty directory.
    pub(crate) fn backup(&self, dest: &Path) -> Result<BackupStats> {
        let refuse = |reason: &str| {
            Err(Error::InvalidArgument(format!(
                "backup destination {}: {reason}",
                dest.display()
            )))
        };
        match std::fs::read_dir(dest) {
            Ok(entries) => {
                if entries.count() > 0 {
                    return refuse("not empty");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dest, e)),
        }
        crate::os::io::create_db_dir(dest, self.mode)?;
        let copied = self.copy_segments(dest);
        if copied.is_err() {
            // A failed copy must not look like a database: remove what was written.
            let _ = std::fs::remove_dir_all(dest);
        }
        copied
    }

    fn copy_segments(&self, dest: &Path) -> Result<BackupStats> {
        let _m = self
            .compact_mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A read-only handle copies its snapshot, which no lock needs to hold still
        // (format-spec.md §6.4).
        let locked = !self.read_only;
        if locked {
            self.compact_lock.lock_exclusive(None, &self.dir)?;
        }
        let r = (|| {
            let (man, log_pos) = {
                let _g = if locked {
                    Some(self.writer_section(self.opts.lock_timeout)?)
                } else {
                    None
                };
                (self.read_manifest()?, self.shm.get(W_LOG_POS))
            };
            let mut stats = BackupStats::default();
            let mut copies = Vec::with_capacity(man.segments.len());
            for &(id, _) in &man.segments {
                let src = self.segs.path(id);
                let len = if id == pos_seg(log_pos) {
                    u64::from(pos_off(log_pos))
                } else {
                    std::fs::metadata(&src)
                        .map_err(|e| Error::io(&src, e))?
                        .len()
                };
                copies.push((id, src, len));
            }
            let total = copies.iter().map(|(_, _, len)| len).sum();
            progress::task(Task::Backup, Unit::Bytes, total, || {
                for (id, src, len) in copies {
                    stats.bytes += copy_prefix(&src, &dest.join(file_name(id)), len, self.mode)?;
                    stats.segments += 1;
                }
                man.write(dest, self.mode)
            })?;
            Ok(stats)
        })();
        if locked {
            self.compact_lock.unlock();
        }
        r
    }
}

/// Copies the first `len` bytes of `src` into a new file `dst` of mode `mode`, and fsyncs
/// it.
fn copy_prefix(src: &Path, dst: &Path, len: u64, mode: u32) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let from = crate::os::io::open_file(src, false)?;
    let to = crate::os::io::create_new(dst, mode)?;
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    while off < len {
        let want = usize::try_from(len - off).unwrap_or(CHUNK).min(CHUNK);
        let n = from
            .read_at(&mut buf[..want], off)
            .map_err(|e| Error::io(src, e))?;
        if n == 0 {
            return Err(Error::CorruptSegment {
                file: src.to_path_buf(),
                offset: off,
                reason: "segment shorter than the published log",
            });
        }
        crate::os::io::write_all_at(&to, &buf[..n], off, dst)?;
        off += n as u64;
        progress::advance(n as u64);
    }
    crate::os::io::sync_data(&to, dst)?;
    Ok(len)
}
