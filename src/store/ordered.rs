//! Parallel work in list order: rayon's threads each take the next item from a shared
//! cursor, so that together they go through a list front to back, the order in which a
//! reader ahead (`fsutil::ReadAhead`) fetches its files (checkout's restore). A parallel iterator would split
//! the list in halves instead, and the second thread would start by waiting for the file
//! the reader reaches last (docs/BENCHMARKS.md, "Chunks in manifest order").

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;

/// Run `f(i)` for every `i` in `0..n`, on the current rayon pool's threads, each thread
/// taking the lowest index not yet taken. Stops taking new ones after the first error,
/// which it returns.
pub(crate) fn try_for_each<E: Send>(
    n: usize,
    f: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = rayon::current_num_threads().min(n).max(1);
    (0..workers)
        .into_par_iter()
        .try_for_each(|_| -> Result<(), E> {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if let Err(e) = f(i) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_for_each_runs_every_index_once_and_stops_at_an_error() {
        let ran: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        let all: Result<(), ()> = try_for_each(1000, |i| {
            ran[i].fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
        assert_eq!(all, Ok(()));
        assert!(ran.iter().all(|r| r.load(Ordering::Relaxed) == 1));
        let count = AtomicUsize::new(0);
        let r = try_for_each(1000, |i| {
            count.fetch_add(1, Ordering::Relaxed);
            if i == 10 {
                Err(i)
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err(10));
        // Each thread stops at its next index once one failed.
        assert!(count.load(Ordering::Relaxed) < 1000);
        assert_eq!(try_for_each(0, |_| Err(())), Ok(()));
    }
}
