//! Parallel work in list order: rayon's threads each take the next item from a shared
//! cursor, so that together they go through a list front to back, the order in which a
//! reader ahead (`fsutil::ReadAhead`) fetches its files. A parallel iterator would split
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

/// `f(i)` for every `i` in `0..n` (in the order of [`try_for_each`]), the results in index
/// order.
pub(crate) fn map<T: Send + Sync>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let slots: Vec<std::sync::OnceLock<T>> = (0..n).map(|_| std::sync::OnceLock::new()).collect();
    let filled: Result<(), std::convert::Infallible> = try_for_each(n, |i| {
        let _ = slots[i].set(f(i));
        Ok(())
    });
    let Ok(()) = filled;
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("every index was run"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_the_order_and_try_for_each_stops_at_an_error() {
        let squares = map(1000, |i| i * i);
        assert!(squares.iter().enumerate().all(|(i, &s)| s == i * i));
        let ran = AtomicUsize::new(0);
        let r = try_for_each(1000, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 10 {
                Err(i)
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err(10));
        // Each thread stops at its next index once one failed.
        assert!(ran.load(Ordering::Relaxed) < 1000);
        assert_eq!(map(0, |i| i), Vec::<usize>::new());
    }
}
