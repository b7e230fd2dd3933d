//! `MANIFEST`: the durable list of segment files that hold the database (format-spec.md §2).
//!
//! Replaced atomically (write `MANIFEST.tmp`, fsync, rename, fsync the directory) under the
//! writer lock. A segment file not listed here whose header carries this database's id is
//! garbage left by a crash and is deleted by the next process that opens the directory
//! first; any other file is left alone (§6.3).

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::record::{le_u64, FORMAT_VERSION, SEG_COMPACTED, SEG_LOG};

pub(crate) const MANIFEST_NAME: &str = "MANIFEST";
/// The next manifest, before its rename over [`MANIFEST_NAME`].
pub(crate) const MANIFEST_TMP: &str = "MANIFEST.tmp";
pub(crate) const MAGIC: [u8; 8] = *b"ZGMAN\r\n\x1a";
const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 8;
/// Longest manifest read: 2²² segments (at least 256 GiB of segment files, in one
/// directory), so that reading another program's large file named `MANIFEST` allocates a
/// bounded amount.
const MAX_LEN: u64 = (HEADER_LEN + 4 + ENTRY_LEN * (1 << 22)) as u64;

/// The manifest's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// A random id given to the database when it is created (0 for one created before ids
    /// existed): an index file is adopted only if it carries the same id (§4.1).
    pub db_id: u32,
    /// The log segment new commits are appended to.
    pub active: u32,
    /// Every live segment: id and kind (`SEG_LOG` or `SEG_COMPACTED`), ascending by id.
    pub segments: Vec<(u32, u8)>,
}

/// A new database id: nonzero, and different for databases created apart.
pub(crate) fn new_db_id(dir: &Path) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut seed = Vec::new();
    seed.extend_from_slice(&nanos.to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    seed.extend_from_slice(dir.as_os_str().as_encoded_bytes());
    let h = xxhash_rust::xxh3::xxh3_64(&seed);
    ((h >> 32) as u32 ^ h as u32).max(1)
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + self.segments.len() * ENTRY_LEN + 4);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&[0; 2]);
        b.extend_from_slice(
            &u32::try_from(self.segments.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        b.extend_from_slice(&self.active.to_le_bytes());
        b.extend_from_slice(&self.db_id.to_le_bytes());
        for &(id, kind) in &self.segments {
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&[kind, 0, 0, 0]);
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason| Error::CorruptManifest {
            file: path.to_path_buf(),
            reason,
        };
        if b.get(..8) != Some(&MAGIC[..]) {
            return Err(bad("not a ZiggyDB manifest (bad magic number)"));
        }
        if b.len() < HEADER_LEN + 4 {
            return Err(bad("manifest too short"));
        }
        let (body, crc) = b.split_at(b.len() - 4);
        let stored = u32::from_le_bytes(crc.try_into().map_err(|_| bad("short"))?);
        if stored != crc32fast::hash(body) {
            return Err(bad("manifest checksum mismatch"));
        }
        let version = u16::from_le_bytes([body[8], body[9]]);
        if version != FORMAT_VERSION {
            return Err(Error::IncompatibleVersion {
                file: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let count = u32::from_le_bytes([body[12], body[13], body[14], body[15]]) as usize;
        let active = u32::from_le_bytes([body[16], body[17], body[18], body[19]]);
        let db_id = u32::from_le_bytes([body[20], body[21], body[22], body[23]]);
        if body.len() != HEADER_LEN + count.saturating_mul(ENTRY_LEN) {
            return Err(bad("manifest entry count does not match its length"));
        }
        let mut segments = Vec::with_capacity(count);
        for i in 0..count {
            let at = HEADER_LEN + i * ENTRY_LEN;
            let word = le_u64(body, at).ok_or_else(|| bad("short entry"))?;
            let id = word as u32;
            let kind = (word >> 32) as u8;
            if kind != SEG_LOG && kind != SEG_COMPACTED {
                return Err(bad("unknown segment kind in manifest"));
            }
            segments.push((id, kind));
        }
        if !segments.iter().any(|&(id, k)| id == active && k == SEG_LOG) {
            return Err(bad("active segment is not a listed log segment"));
        }
        Ok(Self {
            db_id,
            active,
            segments,
        })
    }

    /// Reads the manifest; `Ok(None)` if the file does not exist.
    pub(crate) fn read(dir: &Path) -> Result<Option<Self>> {
        Self::read_file(&dir.join(MANIFEST_NAME))
    }

    /// Reads the manifest at `path`; `Ok(None)` if the file does not exist. A file too long
    /// to be a manifest (another program's `MANIFEST`) is refused before it is read; a link
    /// or anything but a regular file is refused (§2.2).
    pub(crate) fn read_file(path: &Path) -> Result<Option<Self>> {
        let f = match crate::os::io::open_file(path, false) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        if len > MAX_LEN {
            return Err(Error::CorruptManifest {
                file: path.to_path_buf(),
                reason: "too long to be a ZiggyDB manifest",
            });
        }
        let mut b = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(&f, MAX_LEN + 1), &mut b)
            .map_err(|e| Error::io(path, e))?;
        Self::decode(&b, path).map(Some)
    }

    /// Replaces the manifest atomically and durably; a new manifest gets the file `mode`
    /// (the database's mode, §2.2).
    pub(crate) fn write(&self, dir: &Path, mode: u32) -> Result<()> {
        let tmp = dir.join(MANIFEST_TMP);
        let bytes = self.encode();
        let f = crate::os::io::create(&tmp, mode)?;
        crate::os::io::write_all_at(&f, &bytes, 0, &tmp)?;
        crate::os::io::sync_data(&f, &tmp)?;
        crate::os::io::rename(&tmp, &dir.join(MANIFEST_NAME))?;
        crate::os::io::sync_dir(dir)
    }
}

/// The file mode of the database in `dir` (format-spec.md §2.2): the read and write bits of
/// its `MANIFEST`, the owner's always included; for a directory without one (a database
/// being created), `requested` or [`crate::os::io::DEFAULT_FILE_MODE`].
///
/// # Errors
/// [`Error::ModeMismatch`] if `requested` differs from the mode of an existing database;
/// [`Error::Symlink`], [`Error::NotRegularFile`] for a `MANIFEST` that is not a regular file.
pub(crate) fn database_mode(dir: &Path, requested: Option<u32>) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(MANIFEST_NAME);
    let md = match std::fs::symlink_metadata(&path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(requested.unwrap_or(crate::os::io::DEFAULT_FILE_MODE))
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    if md.file_type().is_symlink() {
        return Err(Error::Symlink { path });
    }
    if !md.is_file() {
        return Err(Error::NotRegularFile {
            path,
            what: crate::os::io::kind_of(md.file_type()),
        });
    }
    let found = (md.permissions().mode() & 0o666) | 0o600;
    match requested {
        Some(requested) if requested != found => Err(Error::ModeMismatch {
            path: dir.to_path_buf(),
            found,
            requested,
        }),
        _ => Ok(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = Manifest {
            db_id: 7,
            active: 9,
            segments: vec![(3, SEG_COMPACTED), (9, SEG_LOG)],
        };
        let b = m.encode();
        assert_eq!(b.len(), HEADER_LEN + 2 * ENTRY_LEN + 4);
        let p = Path::new("MANIFEST");
        assert_eq!(Manifest::decode(&b, p).unwrap(), m);
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x40;
            assert!(
                Manifest::decode(&d, p).is_err(),
                "damage at byte {i} unnoticed"
            );
        }
        assert!(Manifest::decode(&b[..b.len() - 1], p).is_err());
    }
}
