//! Large weight matrices on transparent huge pages.
//!
//! Prediction reads weight rows scattered over tens of megabytes (a 2^20-bucket vocabulary
//! times `C` classes, or `H` hidden units). With 4 KiB pages nearly every row read misses the
//! TLB and waits for a page walk; profiles showed the row prefetches themselves as the
//! hottest instructions. On Linux a matrix of at least 2 MiB is therefore allocated first and
//! marked `MADV_HUGEPAGE` before it is written, so the kernel backs it with 2 MiB pages when
//! transparent huge pages are enabled in `madvise` or `always` mode. Elsewhere, or when the
//! kernel declines, this is an ordinary `Vec`: only speed depends on it, never results.

/// Collects `n` values into a `Vec` whose memory is advised for huge pages (see the module
/// docs). `values` must yield exactly `n` items (fewer or more only cost a reallocation).
pub(crate) fn huge_vec<T>(n: usize, values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(&v);
    v.extend(values);
    v
}

/// Huge pages are 2 MiB on x86_64 and (with 4 KiB base pages) on aarch64.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(v: &Vec<T>) {
    let bytes = v.capacity() * size_of::<T>();
    if bytes < HUGE_PAGE {
        return;
    }
    let start = v.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE_PAGE);
    let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end <= first {
        return;
    }
    // SAFETY: `[first, end)` lies inside the vector's own (unused) allocation, and
    // MADV_HUGEPAGE only changes how the kernel backs those pages, never their contents.
    // A failure (e.g. THP compiled out) leaves ordinary pages, so the result is ignored.
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_v: &[T]) {}

/// Asks the CPU to start loading `slice[i]` into its caches (a hint: no effect on results,
/// never faults; out-of-range indices are ignored). Prediction looks up rows, weights and
/// per-token entries scattered over megabytes; issuing a text's loads together lets their
/// cache misses overlap instead of waiting for each in turn.
#[inline(always)]
pub(crate) fn prefetch<T>(slice: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = slice.get(i) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, i);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_vec_holds_the_values_whatever_the_size() {
        for n in [0usize, 3, 1 << 21] {
            let v = huge_vec(n, (0..n).map(|i| i as u16));
            assert_eq!(v.len(), n);
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u16));
        }
    }
}
