//! Durable, atomic file writes.
//!
//! Every write of a final path in the store goes through here: the bytes go to a temp file
//! in the same filesystem (the store's `tmp/` or the target's directory), the temp file is
//! fsynced, renamed over the target, and the target's directory is fsynced. A crash at any
//! instant leaves either the old file or the new one, never a mix. Large objects are written
//! with direct I/O where the filesystem takes it ([`write_parts`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

static DURABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turn fsync off for this process. Only for building throwaway fixtures fast (the
/// 100,000-commit benchmark); a crash then may lose or corrupt anything. Never used by mreg.
#[cfg(feature = "bench-internals")]
pub fn set_durable_for_benchmarks_only(durable: bool) {
    DURABLE.store(durable, std::sync::atomic::Ordering::Relaxed);
}

fn durable() -> bool {
    DURABLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// fsync a file's data (and metadata when `all`), unless durability was turned off.
pub fn sync_file(f: &File, all: bool) -> std::io::Result<()> {
    match (durable(), all) {
        (false, _) => Ok(()),
        (true, true) => f.sync_all(),
        (true, false) => f.sync_data(),
    }
}

/// Write `bytes` to `path` atomically and durably, with a temp file in `tmp_dir`
/// (which must be on the same filesystem as `path`).
/// The file gets mode 0644 (a temp file's 0600 would hide `mreg.lock`, `.gitignore` or
/// trained weights from other users).
pub fn write_atomic(path: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    write_atomic_mode(path, bytes, tmp_dir, Some(0o644))
}

/// [`write_atomic`] with Unix permission bits set before the rename (an executable git hook
/// is never visible without its `x` bit).
pub fn write_atomic_mode(
    path: &Path,
    bytes: &[u8],
    tmp_dir: &Path,
    mode: Option<u32>,
) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(tmp_dir)
        .ctx("creating temp file in", tmp_dir)?;
    tmp.write_all(bytes)
        .ctx("writing", tmp.path().to_path_buf())?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .ctx("setting permissions of", tmp.path().to_path_buf())?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    sync_file(tmp.as_file(), true).ctx("syncing", tmp.path().to_path_buf())?;
    tmp.persist(path)
        .map_err(|e| crate::Error::io("renaming temp file to", path, e.error))?;
    fsync_parent(path)
}

/// Make the contents of `files` durable. On Linux one `syncfs` of the filesystem holding
/// `dir` flushes them all at once; elsewhere each file is fsynced.
pub fn sync_filesystem<'a>(dir: &Path, files: impl Iterator<Item = &'a Path>) -> Result<()> {
    if !durable() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        use std::os::fd::AsRawFd;
        let d = File::open(dir).ctx("opening", dir)?;
        // SAFETY: syncfs only reads the descriptor, which stays open for the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(crate::Error::io(
                "syncing filesystem of",
                dir,
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for f in files {
            File::open(f)
                .and_then(|f| f.sync_data())
                .ctx("syncing", f)?;
        }
        Ok(())
    }
}

/// Make renames and creations inside `dirs` durable. On Linux one `syncfs` of the
/// filesystem holding `fs_dir` (it commits the journal with every entry at once: a flush of
/// a 1 GiB file named ~180 objects, and an fsync per fan-out directory cost 60–80 ms
/// where one `syncfs` costs a few); elsewhere each directory is fsynced.
pub fn sync_dirs<'a>(fs_dir: &Path, dirs: impl Iterator<Item = &'a Path>) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = dirs;
        sync_filesystem(fs_dir, std::iter::empty())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fs_dir;
        for d in dirs {
            fsync_dir(d)?;
        }
        Ok(())
    }
}

/// Open a regular file for reading; anything else (a FIFO, which a plain open would wait
/// on forever, a directory, a device) is an `InvalidData` error saying so. `O_NONBLOCK`
/// changes nothing for a regular file.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if f.metadata()?.is_file() {
        Ok(f)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ))
    }
}

/// Files at least this large are spliced by [`read_ahead`]; smaller ones are hinted.
const SPLICE_MIN: u64 = 256 * 1024;

/// Read `paths` into the page cache, in order, ahead of a reader that needs them next: each
/// file of [`SPLICE_MIN`] or more not wholly cached is spliced to `/dev/null` (`sendfile`),
/// which fills the cache through the kernel's own read-ahead (large folios) and copies
/// nothing. Asking instead with `POSIX_FADV_WILLNEED` filled it one 4 KiB page at a time:
/// twice the CPU for the same bytes (0.17 against 0.08 s for 0.89 GB here,
/// docs/BENCHMARKS.md, "Checkout at the read floor"). That hint remains for smaller files
/// (it queues the read and returns, where a splice waits for each file in turn, and a
/// small file's pages cost little either way) and where a file cannot be spliced. A hint:
/// files that cannot be opened are skipped, and the caller reads every byte itself,
/// verified. Elsewhere than Linux, a no-op.
pub fn read_ahead<'a>(paths: impl Iterator<Item = &'a Path>) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let null = File::options().write(true).open("/dev/null").ok();
        for p in paths {
            let Ok(f) = open_regular(p) else { continue };
            let Ok(len) = f.metadata().map(|m| m.len()) else {
                continue;
            };
            let pages = len.div_ceil(4096);
            let small = len < SPLICE_MIN;
            if !small && cache_stat(&f).is_some_and(|c| c.cached >= pages) {
                continue;
            }
            let mut off: libc::off_t = 0;
            let spliced = !small
                && null.as_ref().is_some_and(|null| {
                    while (off as u64) < len {
                        let left = (len - off as u64).min(1 << 30) as usize;
                        // SAFETY: a plain syscall on two descriptors owned by `null` and `f`;
                        // `off` is a live local the kernel advances.
                        let n = unsafe {
                            libc::sendfile(null.as_raw_fd(), f.as_raw_fd(), &mut off, left)
                        };
                        if n <= 0 {
                            return n == 0;
                        }
                    }
                    true
                });
            if !spliced {
                // SAFETY: a plain syscall on a descriptor `f` owns for the call.
                unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = paths;
}

/// How many items a [`ReadAhead`] reads ahead of the ones its workers took, at most: a
/// chunk is 1 MiB on average (4 MiB at most), so tens of milliseconds of this disk's reads,
/// and a model larger than the memory is not read ahead into a cache that would evict it
/// before its workers get there.
pub const AHEAD: usize = 64;

/// [`read_ahead`] on its own thread, item by item (an item: the files a worker reads for
/// one unit of work, such as a chunk's object and its keyframe cache entry), at most
/// [`AHEAD`] items ahead of those the workers took ([`ReadAhead::took`]). It stops between
/// two items once this is dropped: a checkout that ends early (an error, a damaged object)
/// leaves no thread reading the rest of a model into the cache of a long-running process
/// (Python, the dashboard).
pub struct ReadAhead {
    shared: std::sync::Arc<Ahead>,
}

struct Ahead {
    stop: std::sync::atomic::AtomicBool,
    taken: std::sync::atomic::AtomicUsize,
    reader: std::sync::OnceLock<std::thread::Thread>,
}

impl ReadAhead {
    pub fn start(items: Vec<Vec<PathBuf>>) -> ReadAhead {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let shared = std::sync::Arc::new(Ahead {
            stop: AtomicBool::new(false),
            taken: AtomicUsize::new(0),
            reader: std::sync::OnceLock::new(),
        });
        let theirs = std::sync::Arc::clone(&shared);
        // Detached: it owns its paths, and stops at the next item once asked.
        let reader = std::thread::spawn(move || {
            for (i, files) in items.iter().enumerate() {
                loop {
                    if theirs.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if i < theirs.taken.load(Ordering::Relaxed) + AHEAD {
                        break;
                    }
                    // Woken by `took`; the timeout covers a wake-up before the handle was set.
                    std::thread::park_timeout(std::time::Duration::from_millis(10));
                }
                read_ahead(files.iter().map(|p| p.as_path()));
            }
        });
        let _ = shared.reader.set(reader.thread().clone());
        ReadAhead { shared }
    }

    /// A worker took its next item.
    pub fn took(&self) {
        self.shared
            .taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.shared.reader.get() {
            t.unpark();
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.shared.reader.get() {
            t.unpark();
        }
    }
}

/// Drop `path`'s pages from the page cache when they are all clean and the file has no
/// other link: a checkout is about to replace it, and freeing a 1 GiB file's cached pages
/// inside the final rename cost ~0.1–0.2 s at the end of the checkout, where evicting them
/// beside the decoding overlaps (docs/BENCHMARKS.md). Dirty pages would be written out by
/// `POSIX_FADV_DONTNEED` for nothing, so a file with any (`cachestat`, Linux 6.5) is left
/// alone, as is everything on a kernel without `cachestat`. Only the cache is touched: the
/// file's content and name are unchanged.
pub fn drop_clean_cache(path: &Path) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        // Never through a link, and never waiting on a FIFO's open.
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        else {
            return;
        };
        if !f.metadata().is_ok_and(|m| m.is_file() && m.nlink() == 1) {
            return;
        }
        if cache_stat(&f).is_some_and(|c| c.cached > 0 && c.dirty == 0 && c.writeback == 0) {
            // SAFETY: a plain syscall on a descriptor `f` owns for the call.
            unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}

/// A file's pages in the page cache (`cachestat`).
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug)]
struct CacheStat {
    cached: u64,
    dirty: u64,
    writeback: u64,
}

/// `cachestat(2)` of the whole file; None where the kernel (before 6.5) or the
/// architecture has no such call.
#[cfg(target_os = "linux")]
fn cache_stat(f: &File) -> Option<CacheStat> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        use std::os::fd::AsRawFd;
        /// cachestat's number in the generic syscall table (both architectures).
        const SYS_CACHESTAT: libc::c_long = 451;
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        #[repr(C)]
        #[derive(Default)]
        struct Stat {
            nr_cache: u64,
            nr_dirty: u64,
            nr_writeback: u64,
            nr_evicted: u64,
            nr_recently_evicted: u64,
        }
        // len 0: to the end of the file.
        let range = Range { off: 0, len: 0 };
        let mut st = Stat::default();
        // SAFETY: cachestat reads `range` and writes `st`, both live #[repr(C)] values of
        // the kernel's layout, for the duration of the call; the descriptor is `f`'s.
        let r = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                f.as_raw_fd(),
                &range as *const Range,
                &mut st as *mut Stat,
                0,
            )
        };
        (r == 0).then_some(CacheStat {
            cached: st.nr_cache,
            dirty: st.nr_dirty,
            writeback: st.nr_writeback,
        })
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = f;
        None
    }
}

/// fsync a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    if !durable() {
        return Ok(());
    }
    File::open(dir)
        .and_then(|f| f.sync_all())
        .ctx("syncing directory", dir)
}

/// This boot of the machine (`/proc/sys/kernel/random/boot_id`), or None where the kernel
/// does not say. Files written without a sync are trusted only within the boot that wrote
/// them: a crash loses unsynced data only by ending the boot.
pub fn boot_id() -> Option<&'static str> {
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// fsync the directory containing `path`.
pub fn fsync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => fsync_dir(p),
        _ => fsync_dir(Path::new(".")),
    }
}

/// Create `dir` (and missing parents), fsyncing each parent whose entry list changed.
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_durable(parent)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => fsync_parent(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::Error::io("creating directory", dir, e)),
    }
}

/// Open a file for appending, creating it (durably) when absent.
pub fn open_append(path: &Path) -> Result<File> {
    let existed = path.exists();
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .ctx("opening for append", path)?;
    if !existed {
        fsync_parent(path)?;
    }
    Ok(f)
}

/// A temp path beside `target`, hidden and unique to this process, for checkouts.
pub fn sibling_temp_path(target: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.mreg-tmp-{}-{n}", std::process::id()))
}

/// Objects at least this large are written with direct I/O where the filesystem allows it.
pub(crate) const DIRECT_MIN: usize = 256 * 1024;

/// Direct I/O's alignment (buffer address, length and file offset): 4 KiB serves every
/// block device Linux exposes here.
const ALIGN: usize = 4096;

/// A 4 KiB-aligned block, so that a vector of them is a buffer direct I/O accepts.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; ALIGN]);

thread_local! {
    /// This thread's aligned buffer for [`write_parts`], reused across objects.
    static ALIGNED: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Write `parts` one after the other into `file` (new, empty, opened for writing). A large
/// object (`DIRECT_MIN` or more) goes to the disk with `O_DIRECT` (its whole 4 KiB blocks;
/// the tail through the page cache): the bytes skip the page cache copy, which on these
/// machines cost more than the disk write itself (docs/BENCHMARKS.md). Durability is
/// unchanged: the caller still syncs the filesystem before naming the file. Where direct
/// I/O is refused (tmpfs, some network filesystems), everything is written normally.
pub(crate) fn write_parts(file: &mut File, parts: &[&[u8]]) -> std::io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    #[cfg(target_os = "linux")]
    if total >= DIRECT_MIN && write_direct(file, parts, total)? {
        return Ok(());
    }
    for p in parts {
        file.write_all(p)?;
    }
    Ok(())
}

/// [`write_parts`]' direct path: Ok(false) when the filesystem refused direct I/O before
/// anything was written (the caller writes normally).
#[cfg(target_os = "linux")]
fn write_direct(file: &mut File, parts: &[&[u8]], total: usize) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an open descriptor owned by `file`; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Ok(false);
    }
    let set = |f: libc::c_int| -> bool {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, f) == 0 }
    };
    if !set(flags | libc::O_DIRECT) {
        return Ok(false);
    }
    let whole = total / ALIGN * ALIGN;
    ALIGNED.with(|cell| {
        let mut blocks = cell.borrow_mut();
        blocks.resize(total.div_ceil(ALIGN), Block([0; ALIGN]));
        // SAFETY: `blocks` holds blocks.len() × ALIGN initialized bytes, contiguous
        // (a Vec of #[repr(C)] arrays of u8, no padding); the slice borrows them mutably for
        // this closure only.
        let buf: &mut [u8] = unsafe {
            std::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, blocks.len() * ALIGN)
        };
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        let direct = file.write_all_at(&buf[..whole], 0);
        if !set(flags) {
            return Err(std::io::Error::other("could not turn direct I/O off"));
        }
        match direct {
            Ok(()) => {}
            // Refused for this file (or a short write left an unaligned offset): the
            // caller writes everything again from offset 0 through the page cache.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(false),
            Err(e) => return Err(e),
        }
        // The tail (< 4 KiB) through the page cache, after the direct blocks.
        file.write_all_at(&buf[whole..total], whole as u64)?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp directory on the build's disk where there is one: /tmp may be a tmpfs, which
    /// keeps its pages whatever is asked.
    #[cfg(target_os = "linux")]
    fn disk_dir() -> tempfile::TempDir {
        tempfile::tempdir_in("target")
            .or_else(|_| tempfile::tempdir())
            .unwrap()
    }

    /// `content` written to `path`, synced, and dropped from the page cache where the
    /// kernel can.
    #[cfg(target_os = "linux")]
    fn write_evicted(path: &Path, content: &[u8]) {
        std::fs::write(path, content).unwrap();
        File::open(path).unwrap().sync_all().unwrap();
        drop_clean_cache(path);
    }

    /// `path`'s pages in the page cache (None: the kernel cannot tell).
    #[cfg(target_os = "linux")]
    fn cached(path: &Path) -> Option<u64> {
        cache_stat(&File::open(path).unwrap()).map(|c| c.cached)
    }

    /// Guards checkout's early eviction of the files it replaces: content never changes;
    /// a file with another link, or with dirty pages, keeps its cache (evicting the first
    /// would slow its other name's readers; the second would write it out for nothing).
    #[cfg(target_os = "linux")]
    #[test]
    fn drop_clean_cache_evicts_only_clean_files_with_one_link() {
        let d = disk_dir();
        let content: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let clean = d.path().join("clean");
        write_evicted(&clean, &content);
        assert_eq!(std::fs::read(&clean).unwrap(), content);
        // Where the kernel and filesystem evict (not tmpfs, Linux 6.5 on), the clean file
        // went; the others are then checked to have stayed.
        std::fs::read(&clean).unwrap();
        drop_clean_cache(&clean);
        if cached(&clean) != Some(0) {
            return;
        }
        let linked = d.path().join("linked");
        std::fs::write(&linked, &content).unwrap();
        File::open(&linked).unwrap().sync_all().unwrap();
        std::fs::hard_link(&linked, d.path().join("other-name")).unwrap();
        drop_clean_cache(&linked);
        assert!(cached(&linked).unwrap() > 0);
        let dirty = d.path().join("dirty");
        std::fs::write(&dirty, &content).unwrap();
        if cache_stat(&File::open(&dirty).unwrap()).is_some_and(|c| c.dirty > 0) {
            drop_clean_cache(&dirty);
            assert!(cached(&dirty).unwrap() > 0);
            assert_eq!(std::fs::read(&dirty).unwrap(), content);
        }
    }

    /// Guards checkout's reader ahead: after `read_ahead`, a file evicted from the page
    /// cache is wholly back in it (spliced to /dev/null, or hinted where it cannot be), and
    /// a path that does not exist is skipped.
    #[cfg(target_os = "linux")]
    #[test]
    fn read_ahead_brings_evicted_files_back_into_the_cache() {
        let d = disk_dir();
        let content: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
        let p = d.path().join("object");
        write_evicted(&p, &content);
        // Where the kernel evicts and tells (Linux 6.5 on, not tmpfs).
        if cached(&p) == Some(0) {
            read_ahead([d.path().join("missing").as_path(), p.as_path()].into_iter());
            assert_eq!(cached(&p), Some((content.len() as u64).div_ceil(4096)));
        }
        assert_eq!(std::fs::read(&p).unwrap(), content);
    }

    /// Guards the reader ahead's bound: it reads at most `AHEAD` items past those its
    /// workers took (a model larger than the memory must not be read ahead into a cache
    /// that evicts it first), and goes on as they take more.
    #[cfg(target_os = "linux")]
    #[test]
    fn read_ahead_stays_within_its_window_of_the_workers() {
        let d = disk_dir();
        let files: Vec<PathBuf> = (0..AHEAD + 3)
            .map(|i| {
                let p = d.path().join(format!("object-{i}"));
                write_evicted(&p, &[i as u8; 8192]);
                p
            })
            .collect();
        // Where the kernel evicts and tells (Linux 6.5 on, not tmpfs).
        if files.iter().any(|p| cached(p) != Some(0)) {
            return;
        }
        let wait_until_cached = |p: &Path| {
            for _ in 0..500 {
                if cached(p) == Some(2) {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            false
        };
        let reading = ReadAhead::start(files.iter().map(|p| vec![p.clone()]).collect());
        assert!(wait_until_cached(&files[AHEAD - 1]));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(cached(&files[AHEAD]), Some(0), "read past its window");
        reading.took();
        assert!(wait_until_cached(&files[AHEAD]));
        assert_eq!(cached(&files[AHEAD + 1]), Some(0), "read past its window");
        reading.took();
        reading.took();
        assert!(wait_until_cached(&files[AHEAD + 2]));
    }

    #[test]
    fn write_atomic_replaces_content() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", d.path()).unwrap();
        write_atomic(&p, b"two", d.path()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // No temp files are left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_dir_durable_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c");
        create_dir_durable(&p).unwrap();
        create_dir_durable(&p).unwrap();
        assert!(p.is_dir());
    }

    /// Objects are written whole whatever their size and alignment, with direct I/O
    /// (a filesystem that takes it) or without (tmpfs refuses it: the fallback).
    #[test]
    fn write_parts_writes_every_byte_direct_or_not() {
        let mut dirs = vec![tempfile::tempdir().unwrap()];
        if Path::new("/dev/shm").is_dir() {
            if let Ok(d) = tempfile::tempdir_in("/dev/shm") {
                dirs.push(d);
            }
        }
        let data: Vec<u8> = (0..3 * DIRECT_MIN + 12_345)
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        for d in &dirs {
            for len in [
                0,
                1,
                4095,
                4096,
                DIRECT_MIN - 1,
                DIRECT_MIN,
                DIRECT_MIN + 1,
                2 * DIRECT_MIN,
                data.len(),
            ] {
                for split in [0, 16, len / 3] {
                    let split = split.min(len);
                    let p = d.path().join(format!("o-{len}-{split}"));
                    let mut f = File::create(&p).unwrap();
                    write_parts(&mut f, &[&data[..split], &data[split..len]]).unwrap();
                    drop(f);
                    assert_eq!(fs::read(&p).unwrap(), &data[..len], "{len} {split}");
                }
            }
        }
    }
}
