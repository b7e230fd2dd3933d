//! Group commit across clients: the pipelines of simple writes (see
//! `handler::groupable_run`) of every connection go to one thread, which runs all that have
//! arrived meanwhile in one write transaction: one writer-lock acquisition and one commit
//! (one fsync with `--durability immediate`) for the writes of many clients, where each would
//! otherwise take the lock in turn. While it commits, the next writes queue up and go in the
//! next transaction together.
//!
//! Each command gets the reply it would get alone (they run in arrival order, each seeing
//! the writes before it); replies are sent only after the commit, and if the commit fails
//! every command of the transaction gets its error. Only writes that check everything before
//! they write come here, so that one that fails leaves nothing behind in the shared
//! transaction.

use std::sync::mpsc;

use tokio::sync::oneshot;
use ziggydb::commands::{Policy, Reply, Session};
use ziggydb::Db;

/// Most commands in one shared transaction.
const MAX_COMMANDS: usize = 4096;

/// One connection's pipeline of simple writes, and where its replies go.
pub struct Job {
    pub batch: Vec<Vec<Vec<u8>>>,
    pub done: oneshot::Sender<Vec<Reply>>,
}

/// Starts the thread that runs jobs; it ends when every sender is dropped.
pub fn start(db: &Db, policy: Policy) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let mut session = Session::new(db, policy);
    // A blocking pop must not stop the write thread: it answers at once, as in MULTI.
    session.set_blocking(false);
    std::thread::Builder::new()
        .name("ziggy-writes".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut count = first.batch.len();
                let mut jobs = vec![first];
                while count < MAX_COMMANDS {
                    match rx.try_recv() {
                        Ok(job) => {
                            count += job.batch.len();
                            jobs.push(job);
                        }
                        Err(_) => break,
                    }
                }
                run(&mut session, jobs);
            }
        })?;
    Ok(tx)
}

fn execute(session: &mut Session, argv: &[Vec<u8>]) -> Reply {
    let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    session.execute(&args)
}

fn run(session: &mut Session, jobs: Vec<Job>) {
    if session.execute(&[b"BEGIN"]).is_error() {
        // No shared transaction (the lock could not be had in time): each on its own.
        for job in jobs {
            let replies = job.batch.iter().map(|a| execute(session, a)).collect();
            let _ = job.done.send(replies);
        }
        return;
    }
    let replies: Vec<Vec<Reply>> = jobs
        .iter()
        .map(|job| job.batch.iter().map(|a| execute(session, a)).collect())
        .collect();
    let commit = session.execute(&[b"COMMIT"]);
    for (job, replies) in jobs.into_iter().zip(replies) {
        let replies = if commit.is_error() {
            vec![commit.clone(); replies.len()]
        } else {
            replies
        };
        // A client gone meanwhile drops its receiver; its writes are committed all the same.
        let _ = job.done.send(replies);
    }
}
