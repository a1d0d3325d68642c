//! A global allocator that counts the allocations made by each thread, for the tests that
//! show a path allocates nothing (the harness runs other tests on other threads, so the
//! count is kept per thread). Included by `#[path]` into each such test crate.

use std::alloc::{GlobalAlloc, Layout, System};

struct Counting;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread so far.
pub fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}
