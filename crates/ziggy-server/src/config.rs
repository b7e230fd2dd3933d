//! The command line, and what `CONFIG GET` reports of it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ziggydb::Durability;

/// When a write a client was told succeeded is on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// Every commit is fsynced before its reply is sent (commits of concurrent clients, and
    /// of other processes, share one fsync). Redis's `appendfsync always`.
    Immediate,
    /// A commit is replied to once every process sees it; it is fsynced at most
    /// `--sync-delay-ms` later. A crash of the server loses nothing; a crash of the machine
    /// may lose that last stretch. Redis's `appendfsync everysec`.
    Batched,
}

/// `ziggy-server`: the Redis protocol on a ZiggyDB directory, which other servers and
/// embedded processes may have open at the same time.
#[derive(Debug, Clone, Parser)]
#[command(name = "ziggy-server", version, about)]
pub struct Args {
    /// The database directory (created if missing).
    #[arg(long, short = 'd')]
    pub dir: PathBuf,
    /// TCP port; 0 picks a free one (printed on standard output); -1 serves no TCP port.
    #[arg(long, default_value_t = 6379, allow_negative_numbers = true)]
    pub port: i32,
    /// Addresses to listen on (repeat or separate with spaces). By default, like Redis,
    /// 127.0.0.1 and ::1 (an address that cannot be bound is skipped if another is).
    #[arg(long, num_args = 1.., value_delimiter = ' ')]
    pub bind: Vec<String>,
    /// Also listen on this Unix socket.
    #[arg(long)]
    pub unixsocket: Option<PathBuf>,
    /// Permissions of the Unix socket, in octal (as Redis's `unixsocketperm`).
    #[arg(long, value_parser = parse_octal)]
    pub unixsocketperm: Option<u32>,
    /// Clients must `AUTH` (or `HELLO ... AUTH default PASS`) with this password first.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// With no password set, refuse clients that are not on this machine (loopback or the
    /// Unix socket), as Redis's protected mode does.
    #[arg(long, default_value = "yes", value_parser = parse_yes_no)]
    pub protected_mode: bool,
    /// Most clients connected at once; one more is told so and closed.
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: usize,
    /// Close a client idle this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// Most bytes of a request received but not yet whole (Redis's
    /// `client-query-buffer-limit`); a client that sends more is closed. Accepts 1gb, 64mb...
    #[arg(long, default_value = "1gb", value_parser = parse_memory)]
    pub client_query_buffer_limit: usize,
    /// Most bytes of replies a client has not read yet; a client that lets more pile up
    /// (it sends requests and never reads) is closed, so the server's memory stays bounded.
    #[arg(long, default_value = "64mb", value_parser = parse_memory)]
    pub client_output_buffer_limit: usize,
    /// When an acknowledged write is on stable storage.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Immediate)]
    pub durability: DurabilityArg,
    /// With `--durability batched`, the longest a commit waits for its fsync.
    #[arg(long, default_value_t = 1000)]
    pub sync_delay_ms: u64,
    /// How long a client's `BEGIN` may hold the writer lock, in milliseconds, before it is
    /// rolled back (every other writer, in every process, waits meanwhile).
    #[arg(long, default_value_t = 5000)]
    pub max_begin_hold_ms: u64,
}

impl Args {
    /// The durability the database is opened with.
    pub fn durability(&self) -> Durability {
        match self.durability {
            DurabilityArg::Immediate => Durability::Immediate,
            DurabilityArg::Batched => Durability::Batched {
                max_delay: Duration::from_millis(self.sync_delay_ms.max(1)),
            },
        }
    }

    /// The addresses to listen on.
    pub fn binds(&self) -> Vec<String> {
        if self.bind.is_empty() {
            vec!["127.0.0.1".into(), "::1".into()]
        } else {
            self.bind
                .iter()
                .filter(|b| !b.is_empty())
                .cloned()
                .collect()
        }
    }

    /// `CONFIG GET`'s parameters and their values, as Redis names them.
    pub fn config_pairs(&self, port: u16) -> Vec<(&'static str, String)> {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        vec![
            ("dir", self.dir.display().to_string()),
            ("port", port.to_string()),
            ("bind", self.binds().join(" ")),
            (
                "unixsocket",
                self.unixsocket
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                "unixsocketperm",
                format!("{:o}", self.unixsocketperm.unwrap_or(0)),
            ),
            ("requirepass", self.requirepass.clone().unwrap_or_default()),
            ("protected-mode", yes_no(self.protected_mode)),
            ("maxclients", self.maxclients.to_string()),
            ("timeout", self.timeout.to_string()),
            (
                "client-query-buffer-limit",
                self.client_query_buffer_limit.to_string(),
            ),
            (
                "client-output-buffer-limit",
                format!(
                    "normal {} {} 0",
                    self.client_output_buffer_limit, self.client_output_buffer_limit
                ),
            ),
            (
                "proto-max-bulk-len",
                ziggydb::commands::MAX_BULK_LEN.to_string(),
            ),
            ("appendonly", "yes".into()),
            (
                "appendfsync",
                match self.durability {
                    DurabilityArg::Immediate => "always",
                    DurabilityArg::Batched => "everysec",
                }
                .into(),
            ),
            ("save", String::new()),
            ("databases", "1".into()),
        ]
    }
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected yes or no, not '{s}'")),
    }
}

fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).map_err(|_| format!("'{s}' is not an octal mode such as 700"))
}

/// A size as Redis writes it: `1024`, `1k` (1000), `1kb` (1024), `64mb`, `1gb`.
pub fn parse_memory(s: &str) -> Result<usize, String> {
    let lower = s.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size such as 1048576, 64mb or 1gb"))?;
    let mul: usize = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "'{s}': unknown unit '{unit}' (use k, kb, m, mb, g or gb)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_redis_writes_them() {
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1kb"), Ok(1024));
        assert_eq!(parse_memory("64MB"), Ok(64 << 20));
        assert_eq!(parse_memory("1gb"), Ok(1 << 30));
        assert!(parse_memory("12 parsecs").is_err());
        assert!(parse_memory("").is_err());
        assert!(parse_memory("99999999999999999999gb").is_err());
    }
}
