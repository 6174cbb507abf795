//! File watching: which watched files changed since the last look.
//!
//! Lua is single-threaded, so the watcher never calls into it. The operating
//! system's notifications (or, in [`WatchMode::Poll`], a scan every interval)
//! arrive on notify's own thread, which only notes "this path, at this
//! instant" under a mutex. The Lua side calls [`FileWatcher::poll`] from its
//! own loop or timer and gets the paths that have been quiet for the debounce
//! time, each once.
//!
//! Editors save in different ways: in place, by writing a temporary file and
//! renaming it over the original, or by deleting and creating. A watch on the
//! file itself would lose track after the first rename or delete (it follows
//! the old inode), so [`FileWatcher::watch_file`] watches the file's folder
//! and keeps only that file's events: every way of saving is then one change
//! of that path.
//!
//! Watched folders are resolved through symlinks (the system reports events
//! under the real path, and two names for one folder must share one watch),
//! but changes are reported under the path the caller gave.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use notify::event::{MetadataKind, ModifyKind};
use notify::{Config, Event, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};

use crate::error::Error;

/// The shortest interval [`WatchMode::Poll`] scans at; a zero interval would
/// make the scanning thread spin.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How many watcher errors are kept until [`FileWatcher::errors`] drains them;
/// a folder that vanished under a poll watcher reports one every interval, and
/// a host that never drains must not grow without end.
const MAX_ERRORS: usize = 100;

/// How the watcher learns about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// The system's notifications (inotify, FSEvents, kqueue, ReadDirectoryChanges).
    Events,
    /// A scan every interval, for file systems that send no events (network
    /// shares, some containers). Contents are compared too, since notify keeps
    /// modification times in whole seconds: every file in a watched folder is
    /// read each interval, so keep polled folders small. In this mode a
    /// subfolder whose entries change is reported as well as the entries.
    Poll(Duration),
}

/// One thing the caller asked to watch.
#[derive(Debug, Clone)]
enum Subscription {
    File {
        /// The path as the caller gave it: what is reported.
        given: PathBuf,
        /// Where events for the file arrive: in its resolved folder, and, when
        /// the file is a symlink, at its target, so editing the target is seen.
        targets: Vec<PathBuf>,
    },
    Dir {
        given: PathBuf,
        canonical: PathBuf,
        recursive: bool,
    },
}

impl Subscription {
    fn given(&self) -> &Path {
        match self {
            Subscription::File { given, .. } | Subscription::Dir { given, .. } => given,
        }
    }

    /// The folders to ask the system about, and whether recursively.
    fn folders(&self) -> Vec<(PathBuf, bool)> {
        match self {
            Subscription::File { targets, .. } => targets
                .iter()
                .filter_map(|target| target.parent())
                .map(|folder| (folder.to_path_buf(), false))
                .collect(),
            Subscription::Dir {
                canonical,
                recursive,
                ..
            } => vec![(canonical.clone(), *recursive)],
        }
    }

    /// The path to report for a `kind` event at `path` (a resolved path), if
    /// this subscription cares about it.
    fn report(&self, path: &Path, kind: &EventKind) -> Option<PathBuf> {
        match self {
            Subscription::File { given, targets } => {
                targets.iter().any(|t| t == path).then(|| given.clone())
            }
            Subscription::Dir {
                given,
                canonical,
                recursive,
            } => {
                let rest = path.strip_prefix(canonical).ok()?;
                if rest.as_os_str().is_empty() {
                    // The folder's own writes (a poll watcher sees its write
                    // time move whenever an entry comes or goes) are its
                    // entries changing, and those are reported one by one.
                    // Only the folder itself appearing or going away counts.
                    let own = matches!(
                        kind,
                        EventKind::Create(_)
                            | EventKind::Remove(_)
                            | EventKind::Modify(ModifyKind::Name(_))
                    );
                    // `join("")` would add a trailing separator.
                    return own.then(|| given.clone());
                }
                if !recursive && rest.components().count() > 1 {
                    return None;
                }
                Some(given.join(rest))
            }
        }
    }

    /// True when [`Subscription::report`] can give `reported`; decides which
    /// queued changes outlive an unwatch.
    fn produces(&self, reported: &Path) -> bool {
        match self {
            Subscription::File { given, .. } => reported == given,
            Subscription::Dir {
                given, recursive, ..
            } => match reported.strip_prefix(given) {
                Ok(rest) => *recursive || rest.components().count() <= 1,
                Err(_) => false,
            },
        }
    }
}

/// What notify's thread and the caller's thread share.
#[derive(Debug, Default)]
struct Shared {
    subscriptions: Vec<Subscription>,
    /// Reported path -> its last event. One entry per path: repeated events
    /// only move the instant, which is what makes the debounce.
    queue: HashMap<PathBuf, Instant>,
    errors: Vec<String>,
    dropped_errors: usize,
}

impl Shared {
    fn queue_event_path(&mut self, path: &Path, kind: &EventKind, now: Instant) {
        for subscription in &self.subscriptions {
            if let Some(reported) = subscription.report(path, kind) {
                self.queue.insert(reported, now);
            }
        }
    }

    /// After lost events nothing is known, so everything watched counts as
    /// changed: a folder watch reports the folder itself.
    fn queue_everything(&mut self, now: Instant) {
        for subscription in &self.subscriptions {
            self.queue.insert(subscription.given().to_path_buf(), now);
        }
    }

    fn push_error(&mut self, message: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(message);
        } else {
            self.dropped_errors += 1;
        }
    }
}

/// Locks the shared state. A panic while it was held cannot leave it
/// half-updated in a way that matters (each change is one map or vector
/// operation), so a poisoned lock is used as it is rather than spreading the
/// panic to notify's thread or to Lua.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True for events that may mean new contents: creates, data writes, removes,
/// renames, and kinds the backend could not name. Reads and opens are not
/// changes; neither is a metadata-only change (chmod, owner, `touch` on
/// inotify), except the poll watcher's "write time moved", which is how it
/// reports a write.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::WriteTime)) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// notify's callback, on notify's thread: note what happened and return.
fn record(shared: &Mutex<Shared>, result: notify::Result<Event>) {
    let now = Instant::now();
    let mut shared = lock(shared);
    match result {
        Err(error) => shared.push_error(error.to_string()),
        Ok(event) if event.need_rescan() => {
            shared.push_error(
                "the system dropped file events (its queue overflowed); every watched path is reported as changed"
                    .to_string(),
            );
            shared.queue_everything(now);
        }
        Ok(event) if is_change(&event.kind) => {
            for path in &event.paths {
                shared.queue_event_path(path, &event.kind, now);
            }
        }
        Ok(_) => {}
    }
}

/// The folders the system must watch for these subscriptions: each once,
/// recursive if any subscription needs it, and none inside a recursively
/// watched one (it is covered, and a second watch there would be torn down
/// when either is unwatched).
fn folders_to_watch(subscriptions: &[Subscription]) -> BTreeMap<PathBuf, bool> {
    let mut folders: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for (folder, recursive) in subscriptions.iter().flat_map(Subscription::folders) {
        *folders.entry(folder).or_insert(false) |= recursive;
    }
    let roots: Vec<PathBuf> = folders
        .iter()
        .filter(|(_, recursive)| **recursive)
        .map(|(folder, _)| folder.clone())
        .collect();
    folders.retain(|folder, _| {
        !roots
            .iter()
            .any(|root| root != folder && folder.starts_with(root))
    });
    folders
}

fn io_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Watches files and folders and queues their changes until [`FileWatcher::poll`].
///
/// Dropping it stops watching.
pub struct FileWatcher {
    backend: Box<dyn Watcher + Send>,
    shared: Arc<Mutex<Shared>>,
    /// The folders the backend watches now, and whether recursively.
    active: BTreeMap<PathBuf, bool>,
    debounce: Duration,
}

impl FileWatcher {
    /// A watcher that reports a change once its path has had no event for
    /// `debounce`, so a save that writes several times is one change.
    pub fn new(mode: WatchMode, debounce: Duration) -> Result<FileWatcher, Error> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let for_handler = Arc::clone(&shared);
        let handler = move |result: notify::Result<Event>| record(&for_handler, result);
        let backend: Box<dyn Watcher + Send> = match mode {
            WatchMode::Events => Box::new(
                RecommendedWatcher::new(handler, Config::default())
                    .map_err(|e| io_error(Path::new("the file watcher"), e.to_string()))?,
            ),
            WatchMode::Poll(interval) => {
                let config = Config::default()
                    .with_poll_interval(interval.max(MIN_POLL_INTERVAL))
                    .with_compare_contents(true);
                Box::new(
                    PollWatcher::new(handler, config)
                        .map_err(|e| io_error(Path::new("the poll watcher"), e.to_string()))?,
                )
            }
        };
        Ok(FileWatcher {
            backend,
            shared,
            active: BTreeMap::new(),
            debounce,
        })
    }

    /// Watches one file: any save of it, however the editor does it, is
    /// reported as `path`. The file need not exist yet (its creation is a
    /// change), but its folder must. Watching a path again replaces the
    /// earlier watch of it; if that fails, the path is no longer watched.
    ///
    /// A relative path is resolved against the current folder now, and
    /// reported as given. If the folder itself is deleted or moved, its watch
    /// ends; unwatch and watch again once it is back.
    pub fn watch_file(&mut self, path: &Path) -> Result<(), Error> {
        let name = path
            .file_name()
            .ok_or_else(|| io_error(path, "the path does not name a file"))?;
        if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(io_error(path, "it is a folder; watch it with watch_dir"));
        }
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let folder = fs::canonicalize(parent)
            .map_err(|e| io_error(path, format!("its folder cannot be watched: {e}")))?;
        let mut targets = vec![folder.join(name)];
        if let Ok(resolved) = fs::canonicalize(path)
            && !targets.contains(&resolved)
        {
            targets.push(resolved);
        }
        self.subscribe(Subscription::File {
            given: path.to_path_buf(),
            targets,
        })
    }

    /// Watches a folder: a change of any file in it (or under it, when
    /// `recursive`) is reported as that file's path under `dir`. Folders
    /// created or removed inside are reported too, and `dir` itself when it
    /// is created, removed or renamed, or when the system lost events (then
    /// anything under it may have changed).
    ///
    /// A file written into a brand-new subfolder right after its creation may
    /// be missed by event backends (the subfolder is watched only once its
    /// creation is seen); the subfolder itself is always reported.
    pub fn watch_dir(&mut self, dir: &Path, recursive: bool) -> Result<(), Error> {
        let canonical = fs::canonicalize(dir).map_err(|e| io_error(dir, e.to_string()))?;
        if !canonical.is_dir() {
            return Err(io_error(
                dir,
                "it is not a folder; watch it with watch_file",
            ));
        }
        self.subscribe(Subscription::Dir {
            given: dir.to_path_buf(),
            canonical,
            recursive,
        })
    }

    /// Stops watching `path` (as given to `watch_file` or `watch_dir`) and
    /// drops its queued changes. False when it was not watched.
    pub fn unwatch(&mut self, path: &Path) -> bool {
        {
            let mut shared = lock(&self.shared);
            let before = shared.subscriptions.len();
            shared.subscriptions.retain(|s| s.given() != path);
            if shared.subscriptions.len() == before {
                return false;
            }
            let Shared {
                subscriptions,
                queue,
                ..
            } = &mut *shared;
            queue.retain(|reported, _| subscriptions.iter().any(|s| s.produces(reported)));
        }
        // Unwatching a recursive folder can uncover a folder inside it that
        // must now be watched on its own; if that fails, say so where the Lua
        // side looks for watcher errors.
        if let Err((folder, error)) = self.sync_backend() {
            lock(&self.shared).push_error(format!("cannot watch {}: {error}", folder.display()));
        }
        true
    }

    /// The paths whose last change is at least the debounce time old, each
    /// once, sorted. They leave the queue; changes still settling stay for a
    /// later call.
    pub fn poll(&self) -> Vec<PathBuf> {
        let now = Instant::now();
        let mut ready = Vec::new();
        lock(&self.shared).queue.retain(|path, last| {
            let settled = now.saturating_duration_since(*last) >= self.debounce;
            if settled {
                ready.push(path.clone());
            }
            !settled
        });
        ready.sort();
        ready
    }

    /// How many paths are queued, settled or not.
    pub fn pending(&self) -> usize {
        lock(&self.shared).queue.len()
    }

    /// The errors the watcher reported since the last call, oldest first.
    pub fn errors(&self) -> Vec<String> {
        let mut shared = lock(&self.shared);
        let mut errors = std::mem::take(&mut shared.errors);
        let dropped = std::mem::take(&mut shared.dropped_errors);
        if dropped > 0 {
            errors.push(format!("{dropped} more watcher error(s) were dropped"));
        }
        errors
    }

    fn subscribe(&mut self, subscription: Subscription) -> Result<(), Error> {
        let given = subscription.given().to_path_buf();
        {
            let mut shared = lock(&self.shared);
            shared.subscriptions.retain(|s| s.given() != given);
            shared.subscriptions.push(subscription);
        }
        let Err((folder, error)) = self.sync_backend() else {
            return Ok(());
        };
        lock(&self.shared)
            .subscriptions
            .retain(|s| s.given() != given);
        // Takes back whatever the failed subscription alone needed.
        if let Err((other, e)) = self.sync_backend() {
            lock(&self.shared).push_error(format!("cannot watch {}: {e}", other.display()));
        }
        Err(io_error(
            &given,
            format!("cannot watch {}: {error}", folder.display()),
        ))
    }

    /// Makes the backend watch exactly the folders the subscriptions need.
    ///
    /// Never called with the shared lock held: the backend's thread takes that
    /// lock in its callback while `watch` may wait for the backend's thread.
    fn sync_backend(&mut self) -> Result<(), (PathBuf, notify::Error)> {
        let wanted = folders_to_watch(&lock(&self.shared).subscriptions);
        let stale: Vec<PathBuf> = self
            .active
            .iter()
            .filter(|(folder, recursive)| wanted.get(*folder) != Some(*recursive))
            .map(|(folder, _)| folder.clone())
            .collect();
        for folder in stale {
            // Fails when the folder is gone and the system dropped its watch
            // already, which is the state wanted.
            let _ = self.backend.unwatch(&folder);
            self.active.remove(&folder);
        }
        let mut first_error = None;
        for (folder, recursive) in wanted {
            if self.active.contains_key(&folder) {
                continue;
            }
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match self.backend.watch(&folder, mode) {
                Ok(()) => {
                    self.active.insert(folder, recursive);
                }
                Err(error) => {
                    // A recursive watch can fail halfway; drop the part that was set up.
                    let _ = self.backend.unwatch(&folder);
                    first_error.get_or_insert((folder, error));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const DEBOUNCE: Duration = Duration::from_millis(80);
    /// How long a test waits for events before it gives up.
    const PATIENCE: Duration = Duration::from_secs(2);

    /// Polls until something is reported, or [`PATIENCE`] runs out.
    fn wait_for_report(watcher: &FileWatcher) -> Vec<PathBuf> {
        let start = Instant::now();
        loop {
            let reported = watcher.poll();
            if !reported.is_empty() || start.elapsed() > PATIENCE {
                return reported;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a report, then lets another debounce pass to show that
    /// nothing more comes of the same changes.
    fn report_and_quiet(watcher: &FileWatcher) -> Vec<PathBuf> {
        let reported = wait_for_report(watcher);
        std::thread::sleep(DEBOUNCE * 2);
        let mut all = reported;
        all.extend(watcher.poll());
        all
    }

    #[test]
    fn an_in_place_write_is_reported_once_after_the_debounce() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        fs::write(&file, "a = 1")?;
        let debounce = Duration::from_millis(300);
        let mut watcher = FileWatcher::new(WatchMode::Events, debounce)?;
        watcher.watch_file(&file)?;

        let written = Instant::now();
        fs::write(&file, "a = 2")?;
        let start = Instant::now();
        while watcher.pending() == 0 && start.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(watcher.pending(), 1);
        let early = watcher.poll();
        // Only meaningful while the debounce has not passed; a stalled test
        // thread must not turn a correct report into a failure.
        if written.elapsed() < debounce {
            assert!(early.is_empty(), "reported before the debounce: {early:?}");
        }

        let mut reported = early;
        reported.extend(wait_for_report(&watcher));
        assert!(written.elapsed() >= debounce);
        std::thread::sleep(Duration::from_millis(100));
        reported.extend(watcher.poll());
        assert_eq!(reported, vec![file]);
        assert_eq!(watcher.pending(), 0);
        assert!(watcher.errors().is_empty());
        Ok(())
    }

    #[test]
    fn a_rename_over_the_file_is_reported_as_the_file() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        fs::write(&file, "a = 1")?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_file(&file)?;

        let temp = dir.path().join(".config.toml.swp");
        fs::write(&temp, "a = 2")?;
        fs::rename(&temp, &file)?;
        assert_eq!(report_and_quiet(&watcher), vec![file]);
        Ok(())
    }

    #[test]
    fn a_delete_then_create_is_one_change() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        fs::write(&file, "a = 1")?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_file(&file)?;

        fs::remove_file(&file)?;
        fs::write(&file, "a = 2")?;
        assert_eq!(report_and_quiet(&watcher), vec![file]);
        Ok(())
    }

    #[test]
    fn a_file_that_does_not_exist_yet_is_reported_when_created() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_file(&file)?;

        fs::write(&file, "a = 1")?;
        assert_eq!(report_and_quiet(&watcher), vec![file]);
        Ok(())
    }

    #[test]
    fn other_files_in_the_folder_are_not_reported() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        let sibling = dir.path().join("other.toml");
        fs::write(&file, "a = 1")?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_file(&file)?;

        // The sibling's events come first, so had they counted they would be
        // reported no later than the file's.
        fs::write(&sibling, "b = 1")?;
        fs::write(&file, "a = 2")?;
        assert_eq!(report_and_quiet(&watcher), vec![file]);
        Ok(())
    }

    #[test]
    fn several_writes_within_the_debounce_are_one_report() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        fs::write(&file, "a = 0")?;
        let debounce = Duration::from_millis(200);
        let mut watcher = FileWatcher::new(WatchMode::Events, debounce)?;
        watcher.watch_file(&file)?;

        let mut reported = Vec::new();
        let mut longest_gap = Duration::ZERO;
        let mut last_write = Instant::now();
        for i in 1..=5 {
            fs::write(&file, format!("a = {i}"))?;
            longest_gap = longest_gap.max(last_write.elapsed());
            last_write = Instant::now();
            std::thread::sleep(Duration::from_millis(20));
            reported.extend(watcher.poll());
        }
        reported.extend(wait_for_report(&watcher));
        std::thread::sleep(debounce + Duration::from_millis(50));
        reported.extend(watcher.poll());
        // A test thread stalled past the debounce between two writes makes
        // two separate changes, rightly reported twice.
        if longest_gap < debounce / 2 {
            assert_eq!(reported, vec![file]);
        } else {
            assert!(!reported.is_empty() && reported.iter().all(|p| *p == file));
        }
        Ok(())
    }

    #[test]
    fn a_recursive_folder_watch_reports_files_in_subfolders() -> TestResult {
        let dir = tempfile::tempdir()?;
        let plugins = dir.path().join("plugins");
        fs::create_dir_all(plugins.join("audio"))?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_dir(&plugins, true)?;

        fs::write(plugins.join("audio").join("init.lua"), "return {}")?;
        fs::write(plugins.join("main.lua"), "return {}")?;
        assert_eq!(
            report_and_quiet(&watcher),
            vec![
                plugins.join("audio").join("init.lua"),
                plugins.join("main.lua")
            ]
        );
        Ok(())
    }

    #[test]
    fn a_flat_folder_watch_ignores_subfolders() -> TestResult {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("sub"))?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_dir(dir.path(), false)?;

        fs::write(dir.path().join("sub").join("deep.lua"), "return {}")?;
        fs::write(dir.path().join("top.lua"), "return {}")?;
        // Writing inside `sub` changes `sub` itself only in its times
        // (metadata), which does not count.
        assert_eq!(report_and_quiet(&watcher), vec![dir.path().join("top.lua")]);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_folder_reports_under_the_link() -> TestResult {
        let dir = tempfile::tempdir()?;
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        fs::create_dir_all(real.join("audio"))?;
        std::os::unix::fs::symlink(&real, &link)?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_dir(&link, true)?;
        watcher.watch_file(&link.join("config.toml"))?;

        fs::write(real.join("audio").join("init.lua"), "return {}")?;
        fs::write(link.join("config.toml"), "a = 1")?;
        assert_eq!(
            report_and_quiet(&watcher),
            vec![
                link.join("audio").join("init.lua"),
                link.join("config.toml")
            ]
        );
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_seen_when_its_target_changes() -> TestResult {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("dotfiles"))?;
        fs::create_dir_all(dir.path().join("app"))?;
        let target = dir.path().join("dotfiles").join("config.toml");
        let file = dir.path().join("app").join("config.toml");
        fs::write(&target, "a = 1")?;
        std::os::unix::fs::symlink(&target, &file)?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_file(&file)?;

        fs::write(&target, "a = 2")?;
        assert_eq!(report_and_quiet(&watcher), vec![file]);
        Ok(())
    }

    #[test]
    fn poll_mode_sees_a_modification() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.toml");
        fs::write(&file, "a = 1")?;
        let mut watcher = FileWatcher::new(WatchMode::Poll(Duration::from_millis(50)), DEBOUNCE)?;
        watcher.watch_file(&file)?;

        // Same size, same second: only the contents tell the change apart.
        fs::write(&file, "a = 2")?;
        assert_eq!(report_and_quiet(&watcher), vec![file]);
        assert!(watcher.errors().is_empty());
        Ok(())
    }

    #[test]
    fn poll_mode_reports_new_files_in_a_folder_but_not_the_folder() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut watcher = FileWatcher::new(WatchMode::Poll(Duration::from_millis(50)), DEBOUNCE)?;
        watcher.watch_dir(dir.path(), true)?;

        fs::write(dir.path().join("init.lua"), "return {}")?;
        assert_eq!(
            report_and_quiet(&watcher),
            vec![dir.path().join("init.lua")]
        );
        Ok(())
    }

    #[test]
    fn unwatch_stops_reports_and_keeps_the_shared_folder_watched() -> TestResult {
        let dir = tempfile::tempdir()?;
        let first = dir.path().join("first.toml");
        let second = dir.path().join("second.toml");
        fs::write(&first, "a = 1")?;
        fs::write(&second, "b = 1")?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        watcher.watch_file(&first)?;
        watcher.watch_file(&second)?;

        fs::write(&first, "a = 2")?;
        let start = Instant::now();
        while watcher.pending() == 0 && start.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(watcher.unwatch(&first));
        assert!(!watcher.unwatch(&first));
        assert_eq!(watcher.pending(), 0, "unwatch drops queued changes");

        fs::write(&first, "a = 3")?;
        fs::write(&second, "b = 2")?;
        assert_eq!(report_and_quiet(&watcher), vec![second]);
        Ok(())
    }

    #[test]
    fn a_polled_folder_that_goes_away_reports_errors_until_unwatched() -> TestResult {
        let dir = tempfile::tempdir()?;
        let watched = dir.path().join("watched");
        fs::create_dir(&watched)?;
        let mut watcher = FileWatcher::new(WatchMode::Poll(Duration::from_millis(20)), DEBOUNCE)?;
        watcher.watch_dir(&watched, true)?;
        assert!(watcher.errors().is_empty());
        // errors name the folder the system was asked about: the resolved one
        let shown = fs::canonicalize(&watched)?.display().to_string();

        fs::remove_dir(&watched)?;
        let start = Instant::now();
        let mut errors = watcher.errors();
        while errors.is_empty() && start.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(10));
            errors = watcher.errors();
        }
        assert!(!errors.is_empty(), "no error for the vanished folder");
        assert!(errors.iter().all(|e| e.contains(&shown)), "{errors:?}");
        // Each scan fails again; unwatching ends it. A scan under way when
        // unwatch was called has reported before unwatch returned.
        assert!(watcher.unwatch(&watched));
        watcher.errors();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(watcher.errors(), Vec::<String>::new());
        Ok(())
    }

    #[test]
    fn errors_are_drained_oldest_first_and_capped() -> TestResult {
        let watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        for i in 0..MAX_ERRORS + 5 {
            lock(&watcher.shared).push_error(format!("error {i}"));
        }
        let errors = watcher.errors();
        assert_eq!(errors.len(), MAX_ERRORS + 1);
        assert_eq!(errors[0], "error 0");
        assert_eq!(errors[MAX_ERRORS - 1], format!("error {}", MAX_ERRORS - 1));
        assert_eq!(errors[MAX_ERRORS], "5 more watcher error(s) were dropped");
        assert!(watcher.errors().is_empty(), "errors() drains");
        lock(&watcher.shared).push_error("after".to_string());
        assert_eq!(watcher.errors(), vec!["after".to_string()]);
        Ok(())
    }

    #[test]
    fn watching_in_a_missing_folder_is_an_io_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut watcher = FileWatcher::new(WatchMode::Events, DEBOUNCE)?;
        let missing = dir.path().join("nowhere").join("config.toml");
        match watcher.watch_file(&missing) {
            Err(Error::Io { path, .. }) => assert_eq!(path, missing.display().to_string()),
            other => panic!("expected an io error, got {other:?}"),
        }
        assert!(matches!(
            watcher.watch_dir(&dir.path().join("nowhere"), true),
            Err(Error::Io { .. })
        ));
        assert!(matches!(
            watcher.watch_file(dir.path()),
            Err(Error::Io { reason, .. }) if reason.contains("watch_dir")
        ));
        assert_eq!(watcher.pending(), 0);
        Ok(())
    }

    #[test]
    fn folders_inside_a_recursive_watch_are_not_watched_again() {
        let file = |given: &str, target: &str| Subscription::File {
            given: PathBuf::from(given),
            targets: vec![PathBuf::from(target)],
        };
        let dir = |path: &str, recursive| Subscription::Dir {
            given: PathBuf::from(path),
            canonical: PathBuf::from(path),
            recursive,
        };
        let subscriptions = [
            dir("/p", true),
            dir("/p/a", false),
            file("/p/a/b/c.toml", "/p/a/b/c.toml"),
            file("/q/x.toml", "/q/x.toml"),
            file("/q/y.toml", "/q/y.toml"),
            dir("/q", true),
            dir("/pp", false),
        ];
        let folders: Vec<(PathBuf, bool)> = folders_to_watch(&subscriptions).into_iter().collect();
        assert_eq!(
            folders,
            vec![
                (PathBuf::from("/p"), true),
                (PathBuf::from("/pp"), false),
                (PathBuf::from("/q"), true),
            ]
        );
    }

    #[test]
    fn reported_paths_keep_the_given_prefix() {
        let flat = Subscription::Dir {
            given: PathBuf::from("plugins"),
            canonical: PathBuf::from("/real/plugins"),
            recursive: false,
        };
        let write = EventKind::Modify(ModifyKind::Data(notify::event::DataChange::Any));
        let removed = EventKind::Remove(notify::event::RemoveKind::Folder);
        assert_eq!(
            flat.report(Path::new("/real/plugins/a.lua"), &write),
            Some(PathBuf::from("plugins/a.lua"))
        );
        assert_eq!(
            flat.report(Path::new("/real/plugins/sub/a.lua"), &write),
            None
        );
        assert_eq!(flat.report(Path::new("/real/pluginsx/a.lua"), &write), None);
        assert_eq!(flat.report(Path::new("/real/plugins"), &write), None);
        assert_eq!(
            flat.report(Path::new("/real/plugins"), &removed),
            Some(PathBuf::from("plugins"))
        );
        assert!(flat.produces(Path::new("plugins/a.lua")));
        assert!(!flat.produces(Path::new("plugins/sub/a.lua")));
    }
}
