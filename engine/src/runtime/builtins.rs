//! Runtime functions called by compiled code through the table at
//! `vmctx::BUILTINS`. The order of `BUILTINS` is `vmoffsets::builtin`.
//!
//! Builtins never unwind: a failure is a return value of 0 (or -1), and the
//! compiled code raises the trap itself, so the trap has a precise PC.

use super::instance::InstanceData;
use super::vm::{MemoryObject, TableObject};
use crate::vmoffsets::{self, builtin};

/// Returns the instance owning `vmctx`.
///
/// # Safety
/// `vmctx` must be the vmctx of a live instance.
unsafe fn instance<'a>(vmctx: *mut u8) -> &'a mut InstanceData {
    // SAFETY: the INSTANCE slot is written at instantiation and the
    // InstanceData outlives every call into its code.
    unsafe { &mut *(*(vmctx.add(vmoffsets::vmctx::INSTANCE as usize) as *const *mut InstanceData)) }
}

/// # Safety
/// `vmctx` must be the vmctx of a live instance with a memory `index`.
unsafe fn memory<'a>(vmctx: *mut u8, index: u32) -> &'a mut MemoryObject {
    // SAFETY: memory slots point at `MemoryObject`s (whose first field is the
    // definition) owned by the store.
    unsafe {
        let inst = instance(vmctx);
        let off = inst.offsets().memory_ptr(index) as usize;
        &mut *(*(vmctx.add(off) as *const *mut MemoryObject))
    }
}

/// # Safety
/// `vmctx` must be the vmctx of a live instance with a table `index`.
unsafe fn table<'a>(vmctx: *mut u8, index: u32) -> &'a mut TableObject {
    // SAFETY: table slots point at `TableObject`s owned by the store.
    unsafe {
        let inst = instance(vmctx);
        let off = inst.offsets().table_ptr(index) as usize;
        &mut *(*(vmctx.add(off) as *const *mut TableObject))
    }
}

fn in_bounds(start: u32, len: u32, size: usize) -> bool {
    (start as u64 + len as u64) <= size as u64
}

unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx and a valid index.
    let m = unsafe { memory(vmctx, mem) };
    m.grow(u64::from(delta)).map_or(u32::MAX, |old| old as u32)
}

unsafe extern "C" fn memory_copy(
    vmctx: *mut u8,
    dst_mem: u32,
    dst: u32,
    src_mem: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: as for memory_grow. The two memories may be the same object,
    // so only raw pointers are used for the copy.
    unsafe {
        let d = memory(vmctx, dst_mem);
        let (dbase, dlen) = (d.def.base, d.def.current_length);
        let s = memory(vmctx, src_mem);
        let (sbase, slen) = (s.def.base, s.def.current_length);
        if !in_bounds(dst, len, dlen) || !in_bounds(src, len, slen) {
            return 0;
        }
        std::ptr::copy(
            sbase.add(src as usize),
            dbase.add(dst as usize),
            len as usize,
        );
    }
    1
}

unsafe extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u32, val: u32, len: u32) -> u32 {
    // SAFETY: as for memory_grow.
    let m = unsafe { memory(vmctx, mem) };
    if !in_bounds(dst, len, m.def.current_length) {
        return 0;
    }
    m.data_mut()[dst as usize..(dst + len) as usize].fill(val as u8);
    1
}

unsafe extern "C" fn memory_init(
    vmctx: *mut u8,
    mem: u32,
    seg: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: as for memory_grow.
    let (inst, m) = unsafe { (instance(vmctx), memory(vmctx, mem)) };
    let data = inst.data_segment(seg);
    if !in_bounds(src, len, data.len()) || !in_bounds(dst, len, m.def.current_length) {
        return 0;
    }
    m.data_mut()[dst as usize..(dst + len) as usize]
        .copy_from_slice(&data[src as usize..(src + len) as usize]);
    1
}

unsafe extern "C" fn data_drop(vmctx: *mut u8, seg: u32) {
    // SAFETY: as for memory_grow.
    unsafe { instance(vmctx) }.drop_data(seg);
}

unsafe extern "C" fn table_grow(vmctx: *mut u8, t: u32, delta: u32, init: usize) -> u32 {
    // SAFETY: as for memory_grow.
    let t = unsafe { table(vmctx, t) };
    t.grow(delta, init).unwrap_or(u32::MAX)
}

unsafe extern "C" fn table_fill(vmctx: *mut u8, t: u32, dst: u32, val: usize, len: u32) -> u32 {
    // SAFETY: as for memory_grow.
    let t = unsafe { table(vmctx, t) };
    if !in_bounds(dst, len, t.size() as usize) {
        return 0;
    }
    for i in dst..dst + len {
        t.set(i as usize, val);
    }
    1
}

unsafe extern "C" fn table_copy(
    vmctx: *mut u8,
    dst_t: u32,
    src_t: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: as for memory_grow; the tables may be the same object, so the
    // source is copied out first.
    unsafe {
        let s = table(vmctx, src_t);
        if !in_bounds(src, len, s.size() as usize) {
            return 0;
        }
        let d = table(vmctx, dst_t);
        if !in_bounds(dst, len, d.size() as usize) {
            return 0;
        }
        let s = table(vmctx, src_t);
        let tmp: Vec<usize> = s.elements()[src as usize..(src + len) as usize].to_vec();
        let d = table(vmctx, dst_t);
        for (i, v) in tmp.into_iter().enumerate() {
            d.set(dst as usize + i, v);
        }
    }
    1
}

unsafe extern "C" fn table_init(
    vmctx: *mut u8,
    t: u32,
    seg: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: as for memory_grow.
    let (inst, t) = unsafe { (instance(vmctx), table(vmctx, t)) };
    let elems = inst.elem_segment(seg);
    if !in_bounds(src, len, elems.len()) || !in_bounds(dst, len, t.size() as usize) {
        return 0;
    }
    for i in 0..len as usize {
        let v = inst.elem_value(elems[src as usize + i]);
        t.set(dst as usize + i, v);
    }
    1
}

unsafe extern "C" fn elem_drop(vmctx: *mut u8, seg: u32) {
    // SAFETY: as for memory_grow.
    unsafe { instance(vmctx) }.drop_elem(seg);
}

unsafe extern "C" fn drop_externref(_vmctx: *mut u8, raw: usize) {
    // SAFETY: compiled code calls this with a block whose count it just took
    // to zero; nothing references it any more.
    unsafe { crate::externref::free_zero_count(raw) }
}

/// Called by the GC trampoline with its own frame pointer.
pub unsafe extern "C" fn activations_gc(vmctx: *mut u8, fp: usize) {
    // SAFETY: the calling wasm function's live vmctx; its store's
    // activations pointer is set when the store is created.
    unsafe {
        let limits = crate::runtime::traphandlers::VMRuntimeLimits::of_vmctx(vmctx);
        (*limits.activations).collect(Some(fp));
    }
}

/// The table `vmctx::BUILTINS` points at; one per engine, because the GC
/// trampoline is generated code.
#[repr(C)]
pub struct Builtins(pub [*const (); builtin::COUNT]);

// SAFETY: the table is immutable and holds only function addresses.
unsafe impl Sync for Builtins {}
// SAFETY: as above.
unsafe impl Send for Builtins {}

impl Builtins {
    pub fn new(gc_trampoline: *const ()) -> Builtins {
        let mut b = STATIC_BUILTINS.0;
        b[builtin::DROP_EXTERNREF as usize] = drop_externref as *const ();
        b[builtin::ACTIVATIONS_GC as usize] = gc_trampoline;
        Builtins(b)
    }
}

static STATIC_BUILTINS: Builtins = Builtins([
    memory_grow as *const (),
    memory_copy as *const (),
    memory_fill as *const (),
    memory_init as *const (),
    data_drop as *const (),
    table_grow as *const (),
    table_fill as *const (),
    table_copy as *const (),
    table_init as *const (),
    elem_drop as *const (),
    std::ptr::null(),
    std::ptr::null(),
    crate::runtime::debug::debug_hook as *const (),
]);
