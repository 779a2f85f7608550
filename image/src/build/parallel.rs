//! Work on each item of a list on several threads, each taking the next item left as it finishes one (a thread given a contiguous share of files of uneven sizes could do most of the work alone), with results in list order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::vec::Vec;

use super::compress::thread_count;
use super::data::joined;
use super::BuildError;

/// `work(position, item, scratch)` for each of `items`, on up to `threads` threads (0: one per
/// available core), each with a scratch buffer of its own; the results in `items` order, or the
/// first error in that order (after an error no thread takes another item; every item before it,
/// taken earlier, was done).
pub(super) fn map<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    work: impl Fn(usize, &I, &mut Vec<u8>) -> Result<T, BuildError> + Sync,
) -> Result<Vec<T>, BuildError> {
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let worker = || {
        let mut scratch = Vec::new();
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let result = work(i, item, &mut scratch);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            done.push((i, result));
        }
        done
    };
    let n = thread_count(threads).clamp(1, items.len().max(1));
    let mut all: Vec<(usize, Result<T, BuildError>)> = std::thread::scope(|s| {
        let others: Vec<_> = (1..n).map(|_| s.spawn(worker)).collect();
        let mut all = worker();
        for handle in others {
            all.extend(joined(handle));
        }
        all
    });
    all.sort_unstable_by_key(|&(i, _)| i);
    all.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn results_come_in_item_order_on_any_number_of_threads() {
        let items: Vec<u64> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            let got = map(&items, threads, |i, &x, scratch| {
                scratch.push(1);
                Ok((i as u64, x * x))
            })
            .unwrap();
            let want: Vec<(u64, u64)> = items.iter().map(|&x| (x, x * x)).collect();
            assert_eq!(got, want);
        }
        assert!(map(&[] as &[u8], 2, |_, _, _| Ok(())).unwrap().is_empty());
    }

    #[test]
    fn the_first_error_in_item_order_is_returned() {
        let items: Vec<u32> = (0..500).collect();
        for threads in [1, 2, 4] {
            let err = map(&items, threads, |_, &x, _| match x % 97 == 40 {
                true => Err(BuildError::Compress(io::Error::other(std::format!(
                    "item {x}"
                )))),
                false => Ok(x),
            })
            .unwrap_err();
            assert_eq!(
                std::format!("{err}"),
                std::format!("{}", BuildError::Compress(io::Error::other("item 40")))
            );
        }
    }
}
