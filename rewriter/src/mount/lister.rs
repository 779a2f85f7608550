//! Directory listings read ahead on a helper thread: the walk takes each directory's sorted entries
//! in its own order while the helper lists the directories it will take next, so the `statx` of
//! every entry (most of a walk's time) runs on two cores.
//!
//! Both threads work from one stack of directories to list, each listing pushing its
//! subdirectories in reverse order, so the top is the next directory the walk enters (depth
//! first, as it walks). The walk lists a directory itself when the helper has not reached it (or
//! never will: a symlink followed, a mount's root), and lists the top of the stack while it waits
//! for the one the helper is listing. Subdirectories the walk will not enter (`--exclude`d, or a
//! deeper mount's) are never listed, and the helper pauses while [`HELD_MAX`] entries wait to be
//! taken. A listing is the same whoever makes it, so the image is too.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::host_meta::name_bytes;

/// Entries listed ahead and not yet taken at most (then the helper waits): ~100 bytes each.
const HELD_MAX: usize = 1 << 16;

/// One directory entry: its name, host path and own metadata (a symlink's, not its target's).
pub(super) struct Entry {
    pub name: Vec<u8>,
    pub path: PathBuf,
    pub lstat: io::Result<Metadata>,
}

/// A directory to list: its host path and its path in the mount source (to ask `Enters`).
struct Job {
    path: PathBuf,
    rel: Vec<u8>,
}

/// What both threads share, behind the mutex.
#[derive(Default)]
struct State {
    /// Directories to list, the next on top.
    todo: Vec<Job>,
    /// The directory the helper is listing.
    busy: Option<PathBuf>,
    /// Listings made and not yet taken.
    done: HashMap<PathBuf, io::Result<Vec<Entry>>>,
    /// Entries in `done`.
    held: usize,
    /// Set when the walk is over: the helper returns.
    stop: bool,
}

/// The state and the condition both threads wait on (a listing finished, work queued, stop).
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves nothing half-changed that matters here.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether the walk enters the subdirectory at this path in the mount source.
type Enters = dyn Fn(&[u8]) -> bool + Send + Sync;

/// Lists the directories of one mount source; the helper stops when this is dropped.
pub(super) struct Lister {
    shared: Arc<Shared>,
    enters: Arc<Enters>,
    helper: Option<JoinHandle<()>>,
}

impl Lister {
    /// A lister for a walk that enters the subdirectories `enters` accepts (by their path in the
    /// mount source); its helper starts at once.
    pub fn new(enters: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared::default());
        let enters: Arc<Enters> = Arc::new(enters);
        let helper = {
            let (shared, enters) = (Arc::clone(&shared), Arc::clone(&enters));
            // No helper (no thread to spare): the walk lists every directory itself.
            std::thread::Builder::new()
                .name("wasifs-list".into())
                .spawn(move || help(&shared, &*enters))
                .ok()
        };
        Lister {
            shared,
            enters,
            helper,
        }
    }

    /// The entries of directory `path` (at `rel` in the mount source), sorted by name.
    pub fn entries(&self, path: &Path, rel: &[u8]) -> io::Result<Vec<Entry>> {
        let mut st = self.shared.lock();
        loop {
            if let Some(listed) = st.done.remove(path) {
                st.held -= listed.as_ref().map_or(0, Vec::len);
                self.shared.changed.notify_all();
                return listed;
            }
            if st.busy.as_deref() != Some(path) {
                // Not reached by the helper, or never to be: listed here, now.
                let at = st.todo.iter().rposition(|j| j.path == path);
                let job = match at {
                    Some(i) => st.todo.remove(i),
                    None => Job {
                        path: path.to_path_buf(),
                        rel: rel.to_vec(),
                    },
                };
                drop(st);
                return run(&self.shared, &*self.enters, &job);
            }
            // The helper is listing it: list the next one meanwhile, or wait.
            match st.todo.pop() {
                Some(job) => {
                    drop(st);
                    run_ahead(&self.shared, &*self.enters, job);
                    st = self.shared.lock();
                }
                None => {
                    st = self
                        .shared
                        .changed
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

impl Drop for Lister {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(h) = self.helper.take() {
            // The helper only lists directories; a panic in it has nothing left to report.
            let _ = h.join();
        }
    }
}

/// The helper: lists the top of the stack until the walk is over.
fn help(shared: &Shared, enters: &Enters) {
    let mut st = shared.lock();
    loop {
        if st.stop {
            return;
        }
        let job = if st.held < HELD_MAX {
            st.todo.pop()
        } else {
            None
        };
        match job {
            Some(job) => {
                st.busy = Some(job.path.clone());
                drop(st);
                run_ahead(shared, enters, job);
                st = shared.lock();
            }
            None => st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// Lists `job` and queues the subdirectories the walk enters for either thread.
fn run(shared: &Shared, enters: &Enters, job: &Job) -> io::Result<Vec<Entry>> {
    let listed = list(&job.path);
    let mut subdirs = Vec::new();
    for e in listed.iter().flatten().rev() {
        if e.lstat.as_ref().is_ok_and(Metadata::is_dir) {
            let mut rel = job.rel.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(&e.name);
            if enters(&rel) {
                subdirs.push(Job {
                    path: e.path.clone(),
                    rel,
                });
            }
        }
    }
    if !subdirs.is_empty() {
        shared.lock().todo.extend(subdirs);
        shared.changed.notify_all();
    }
    listed
}

/// Lists `job` ahead: its listing (or error) waits in `done` for the walk to take it.
fn run_ahead(shared: &Shared, enters: &Enters, job: Job) {
    let listed = run(shared, enters, &job);
    let mut st = shared.lock();
    if st.busy.as_ref() == Some(&job.path) {
        st.busy = None;
    }
    st.held += listed.as_ref().map_or(0, Vec::len);
    st.done.insert(job.path, listed);
    shared.changed.notify_all();
}

/// The entries of directory `path`, each with its own metadata (read relative to the open
/// directory: cheaper than looking the whole path up again), sorted by name (names in one
/// directory are distinct). The directory is closed before the walk recurses, so deep trees hold
/// one open directory at a time.
pub(super) fn list(path: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        entries.push(Entry {
            name: name_bytes(&entry.file_name()),
            path: entry.path(),
            lstat: entry.metadata(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Lister {
        /// Waits until the helper has nothing left to list; the number of listings not taken.
        fn untaken_when_idle(&self) -> usize {
            let mut st = self.shared.lock();
            while !st.todo.is_empty() || st.busy.is_some() {
                st = self.shared.changed.wait(st).unwrap();
            }
            st.done.len()
        }
    }

    /// Walks `dir` (at `rel`) depth first through `lister`, skipping `skip` as a walk that does
    /// not enter it; checks every listing against one made directly; counts the directories.
    fn walk(lister: &Lister, dir: &Path, rel: &str) -> usize {
        let got = lister.entries(dir, rel.as_bytes()).unwrap();
        let direct = list(dir).unwrap();
        let names = |v: &[Entry]| -> Vec<(Vec<u8>, bool)> {
            v.iter()
                .map(|e| (e.name.clone(), e.lstat.as_ref().unwrap().is_dir()))
                .collect()
        };
        assert_eq!(names(&got), names(&direct), "{}", dir.display());
        let mut dirs = 1;
        for e in got.iter().filter(|e| e.lstat.as_ref().unwrap().is_dir()) {
            let name = String::from_utf8(e.name.clone()).unwrap();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if rel != "skip" {
                dirs += walk(lister, &e.path, &rel);
            }
        }
        dirs
    }

    #[test]
    fn listings_come_in_walk_order_as_made_directly_and_directories_not_entered_are_never_listed() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..40 {
            let d = t.path().join(format!("d{}/e{}/f{i}", i % 7, i % 3));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("x.txt"), "x").unwrap();
            fs::write(t.path().join(format!("d{}/file{i}", i % 7)), "y").unwrap();
            fs::create_dir_all(t.path().join(format!("skip/s{i}/deeper"))).unwrap();
        }
        for _ in 0..20 {
            let lister = Lister::new(|rel: &[u8]| rel != b"skip");
            // The root, 7 `d`, 7 × 3 `e` and 40 `f` directories.
            assert_eq!(walk(&lister, t.path(), ""), 1 + 7 + 21 + 40);
            assert_eq!(lister.untaken_when_idle(), 0);
        }
    }

    #[test]
    fn a_directory_that_cannot_be_listed_gives_its_error_to_the_walk() {
        let t = tempfile::tempdir().unwrap();
        let lister = Lister::new(|_: &[u8]| true);
        let gone = t.path().join("gone");
        let e = lister.entries(&gone, b"gone").err().map(|e| e.kind());
        assert_eq!(e, Some(io::ErrorKind::NotFound));
    }
}
