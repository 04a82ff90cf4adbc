//! Deferred reference counting for externrefs held by wasm frames.
//!
//! The scheme (Wasmtime's of 2020): a reference that enters wasm frames (read
//! from a table or global, returned by a host function, passed in by the host)
//! gets one count, owned by a slot of this store's activations table. Compiled
//! code fills the table inline; wasm locals and operand-stack values are never
//! counted individually. Two events empty the table:
//! - control returns to the host with no wasm frame left on the stack: every
//!   count the table owns is released;
//! - the table is full: a collection walks every wasm frame on the stack,
//!   reads the live references from Cranelift's stack maps, keeps one count
//!   for each (the "precise roots"), and releases the table's counts.
//!
//! Soundness rests on the stack maps being complete: every SSA value of type
//! externref that is live across a call is declared as needing a stack map
//! (`func_env` declares table and global reads and typed `select` results;
//! cranelift-wasm declares locals, parameters, block parameters and call
//! results). Tables and globals hold their own counts.

use crate::externref::VMExternRef;
use crate::trap;
use std::cell::{Cell, RefCell};

/// Slots in the table before a collection runs.
pub const CAPACITY: usize = 512;

#[repr(C)]
pub struct VMExternRefActivationsTable {
    /// The next free slot (`vmoffsets::activations::NEXT`).
    pub(crate) next: Cell<*mut usize>,
    /// One past the last slot (`vmoffsets::activations::END`).
    pub(crate) end: Cell<*mut usize>,
    chunk: Box<[usize]>,
    /// References found live on the stack at the last collection.
    precise_roots: RefCell<Vec<VMExternRef>>,
    /// Frame pointers of the host trampolines of every wasm-to-host call in
    /// progress, oldest first: where older wasm frames can be found.
    exit_fps: RefCell<Vec<usize>>,
    /// Number of collections run (for tests and benchmarks).
    pub collections: Cell<u64>,
}

impl VMExternRefActivationsTable {
    pub fn new() -> Box<Self> {
        let mut chunk = vec![0usize; CAPACITY].into_boxed_slice();
        let start = chunk.as_mut_ptr();
        Box::new(VMExternRefActivationsTable {
            next: Cell::new(start),
            // SAFETY: one past the end of the chunk.
            end: Cell::new(unsafe { start.add(CAPACITY) }),
            chunk,
            precise_roots: RefCell::new(Vec::new()),
            exit_fps: RefCell::new(Vec::new()),
            collections: Cell::new(0),
        })
    }

    fn start(&self) -> *mut usize {
        self.chunk.as_ptr() as *mut usize
    }

    /// References currently owned by the table (not counting roots).
    pub(crate) fn len(&self) -> usize {
        (self.next.get() as usize - self.start() as usize) / std::mem::size_of::<usize>()
    }

    /// Hands the table a reference from the host side (parameters of a call
    /// into wasm, results of a host function).
    pub fn insert(&self, r: VMExternRef) {
        if self.next.get() == self.end.get() {
            self.collect(None);
        }
        // SAFETY: `next < end` after a collection, inside `chunk`.
        unsafe {
            self.next.get().write(r.into_raw());
            self.next.set(self.next.get().add(1));
        }
    }

    /// Records that wasm called the host through a trampoline with frame
    /// pointer `fp`; frames older than it stay scannable while the host runs.
    pub fn enter_host(&self, fp: usize) {
        self.exit_fps.borrow_mut().push(fp);
    }

    pub fn leave_host(&self) {
        self.exit_fps.borrow_mut().pop();
    }

    /// Releases every count: called when no wasm frame is left on the stack.
    pub fn reset(&self) {
        self.release_chunk();
        self.precise_roots.borrow_mut().clear();
        self.exit_fps.borrow_mut().clear();
    }

    fn release_chunk(&self) {
        let n = self.len();
        self.next.set(self.start());
        for i in 0..n {
            let raw = self.chunk[i];
            // SAFETY: every slot below `next` owns one count.
            unsafe { crate::externref::drop_raw(raw) };
        }
    }

    /// Collects: keeps what the stack maps say is live, releases the rest.
    /// `gc_fp` is the frame pointer of the GC trampoline when compiled code
    /// asked for the collection.
    pub fn collect(&self, gc_fp: Option<usize>) {
        self.collections.set(self.collections.get() + 1);
        let mut roots = Vec::new();
        let fps: Vec<usize> = gc_fp
            .into_iter()
            .chain(self.exit_fps.borrow().iter().rev().copied())
            .collect();
        for fp in fps {
            // SAFETY: each fp is the frame pointer of a live JIT trampoline
            // frame on this thread's stack, called from wasm.
            unsafe { scan_wasm_frames(fp, &mut roots) };
        }
        // New roots take their counts before the old ones are released, so a
        // reference that stays live never reaches zero.
        let old = std::mem::replace(&mut *self.precise_roots.borrow_mut(), roots);
        self.release_chunk();
        drop(old);
    }
}

impl Drop for VMExternRefActivationsTable {
    fn drop(&mut self) {
        self.reset();
    }
}

/// Pushes a counted clone of every live externref in the wasm frames
/// reachable from the trampoline frame `fp`.
///
/// # Safety
/// `fp` must be the frame pointer of a JIT trampoline called by wasm code on
/// the current thread, whose frames are all still live.
unsafe fn scan_wasm_frames(mut fp: usize, roots: &mut Vec<VMExternRef>) {
    loop {
        // SAFETY: JIT frames keep [fp] = caller fp, [fp + 8] = return address.
        let (ret, caller_fp) = unsafe { (*((fp + 8) as *const usize), *(fp as *const usize)) };
        if !trap::is_wasm_pc(ret - 1) {
            return;
        }
        // The caller's SP at the call is just above our return address.
        let sp = fp + 16;
        if let Some(offsets) = trap::stack_map_at(ret) {
            for off in offsets {
                // SAFETY: the stack map says this slot holds a live externref
                // (or null) at this return address.
                let raw = unsafe { *((sp + off as usize) as *const usize) };
                // SAFETY: a live slot holds null or a counted block.
                if let Some(r) = unsafe { VMExternRef::clone_from_raw(raw) } {
                    roots.push(r);
                }
            }
        }
        fp = caller_fp;
    }
}
