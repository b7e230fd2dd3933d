//! Keyspace notifications below the command layer: the classes (Redis's
//! `notify-keyspace-events` letters), the shared setting in `ziggy.shm`, and the messages a
//! commit publishes (format-spec.md §5.4). Here, in the engine layer, so that the
//! transaction's commit and the expiry pass can publish what they note.

use crate::format::shm::W_NOTIFY;

/// Keyspace notifications (Redis `notify-keyspace-events`): the classes, one bit each, in
/// the order of Redis's letters.
pub mod events {
    /// `K`: publish to `__keyspace@<db>__:<key>` (the event as the message).
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish to `__keyevent@<db>__:<event>` (the key as the message).
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (`DEL`, `EXPIRE`, `RENAME`, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: keys deleted because they expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: keys evicted (accepted; ZiggyDB evicts nothing).
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands (accepted; there are no streams).
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses (accepted; not published).
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module key types (accepted; there are no modules).
    pub const MODULE: u32 = 1 << 12;
    /// `n`: a key created (`new`), not part of `A`.
    pub const NEW: u32 = 1 << 13;
    /// `A`: `g$lshzxetd`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// The letters of the classes other than `A`, in the order Redis prints them.
    const LETTERS: [(u8, u32); 11] = [
        (b'g', GENERIC),
        (b'$', STRING),
        (b'l', LIST),
        (b's', SET),
        (b'h', HASH),
        (b'z', ZSET),
        (b'x', EXPIRED),
        (b'e', EVICTED),
        (b't', STREAM),
        (b'd', MODULE),
        (b'n', NEW),
    ];

    /// The classes of Redis's letters (`KEA`, `Elg`...); `None` for a letter Redis does not
    /// know.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::pubsub_events::{parse, ALL, KEYEVENT, KEYSPACE, LIST};
    /// assert_eq!(parse(b"KEA"), Some(KEYSPACE | KEYEVENT | ALL));
    /// assert_eq!(parse(b"El"), Some(KEYEVENT | LIST));
    /// assert_eq!(parse(b"Ey"), None);
    /// ```
    pub fn parse(letters: &[u8]) -> Option<u32> {
        letters.iter().try_fold(0, |flags, &c| {
            let class = match c {
                b'A' => ALL,
                b'K' => KEYSPACE,
                b'E' => KEYEVENT,
                b'm' => KEY_MISS,
                _ => LETTERS.iter().find(|(l, _)| *l == c)?.1,
            };
            Some(flags | class)
        })
    }

    /// The classes as Redis's `CONFIG GET` prints them: `A` for all of `g$lshzxetd`, else
    /// their letters, then `K`, `E`, `m` (with `A`, Redis leaves out `n`, and so does this).
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::pubsub_events::{format, parse};
    /// assert_eq!(format(parse(b"KEA").unwrap()), "AKE");
    /// assert_eq!(format(parse(b"Exl$").unwrap()), "$lxE");
    /// ```
    pub fn format(flags: u32) -> String {
        let mut out = String::new();
        if flags & ALL == ALL {
            out.push('A');
        } else {
            for (l, class) in LETTERS {
                if flags & class != 0 {
                    out.push(char::from(l));
                }
            }
        }
        for (l, class) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
            if flags & class != 0 {
                out.push(l);
            }
        }
        out
    }
}

/// The database number keyspace notifications name in their channels
/// (`__keyspace@0__:key`); one place, for numbered databases to replace.
pub(crate) const NOTIFY_DB: u32 = 0;

/// The classes of keyspace notifications enabled now, for every process on the directory:
/// one word load of `ziggy.shm` (format-spec.md §5.4).
pub(crate) fn notify_flags(shared: &super::Shared) -> u32 {
    (shared
        .shm
        .w(W_NOTIFY)
        .load(std::sync::atomic::Ordering::Relaxed)
        & 0xffff_ffff) as u32
}

/// Adds to `notes` the messages of the keyspace event `event` of `class` on `key` in the
/// database `db`, as the enabled classes `flags` ask: on `__keyspace@<db>__:<key>` the
/// event, then on `__keyevent@<db>__:<event>` the key (Redis's order).
pub(crate) fn format_event(
    notes: &mut Vec<(Vec<u8>, Vec<u8>)>,
    flags: u32,
    db: u32,
    class: u32,
    event: &str,
    key: &[u8],
) {
    if flags & class == 0 {
        return;
    }
    if flags & events::KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        notes.push((channel, event.as_bytes().to_vec()));
    }
    if flags & events::KEYEVENT != 0 {
        let channel = format!("__keyevent@{db}__:{event}").into_bytes();
        notes.push((channel, key.to_vec()));
    }
}

/// Publishes keyspace notifications (channel, message), in order, after the commit of the
/// writes they describe. A notification that cannot be published (`ziggy.pubsub` cannot be
/// opened, or its lock is held past the lock timeout) is dropped: the commit stands, as a
/// Redis command stands whatever becomes of its notifications.
pub(crate) fn publish_notes(shared: &super::Shared, notes: &[(Vec<u8>, Vec<u8>)]) {
    let Ok(ps) = shared.pubsub() else { return };
    for (channel, message) in notes {
        if ps.publish(channel, message, false).is_err() {
            return;
        }
    }
}
