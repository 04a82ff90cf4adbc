//! `VMExternRef` / `VMExternData`: host values that wasm holds without
//! seeing inside, counted from compiled code. One allocation per value,
//! no side table: a reference is a single word that compiled code can
//! copy, compare with null and count without calling the host.
//!
//! Layout: one heap block, the value first, then a `#[repr(C)]` footer:
//!
//! ```text
//!   +--------------------+---------+-----------+-----------+
//!   | value (any layout) | padding | ref_count | value_ptr |
//!   +--------------------+---------+-----------+-----------+
//!   ^ allocation start             ^ VMExternRef points here (the footer)
//! ```
//!
//! Invariants relied on elsewhere:
//! - `VMExternRef` is one non-null word pointing at the footer, so
//!   `Option<VMExternRef>` is one word and null is `ref.null extern`;
//! - `ref_count` is at offset `vmoffsets::externref::REF_COUNT` of the footer
//!   and compiled code adjusts it with plain (non-atomic) arithmetic: a
//!   reference never leaves the thread of its store (`!Send`, `!Sync`);
//! - `value_ptr` points back at the allocation start and carries the value's
//!   `Any` vtable, which gives its drop glue, size and alignment;
//! - the block is freed with `Layout::for_value(value)` extended by the footer,
//!   the same computation that allocated it.

use std::alloc::Layout;
use std::any::{Any, TypeId};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::RwLock;

/// The footer of an externref allocation.
#[repr(C)]
pub struct VMExternData {
    /// Number of `VMExternRef`s (and table slots, globals, activations)
    /// pointing here.
    pub ref_count: Cell<usize>,
    /// The value, at the start of the same allocation.
    value_ptr: NonNull<dyn Any>,
}

/// Layout of an allocation holding a value of `value` layout plus the
/// footer, and the footer's offset in it.
fn block_layout(value: Layout) -> (Layout, usize) {
    value
        .extend(Layout::new::<VMExternData>())
        .expect("externref allocation size overflows")
}

/// An owned, counted reference to a host value. One word; never null.
#[repr(transparent)]
pub struct VMExternRef {
    footer: NonNull<VMExternData>,
    /// Counting is not atomic: not `Send`, not `Sync`.
    _not_send: PhantomData<*mut ()>,
}

impl VMExternRef {
    /// Moves `value` into a new block with a count of one.
    pub fn new<T: Any>(value: T) -> VMExternRef {
        let (layout, footer_offset) = block_layout(Layout::new::<T>());
        // A zero-sized value still gets a block: the footer is never empty.
        // SAFETY: `layout` has a non-zero size (it contains the footer).
        let start = unsafe { std::alloc::alloc(layout) };
        if start.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let value_ptr = start as *mut T;
        // SAFETY: `start` is a fresh allocation aligned for `T` (the block's
        // alignment is at least T's) with room for a `T` at offset 0 and the
        // footer at `footer_offset`.
        unsafe {
            value_ptr.write(value);
            let footer = start.add(footer_offset) as *mut VMExternData;
            footer.write(VMExternData {
                ref_count: Cell::new(1),
                value_ptr: NonNull::new_unchecked(value_ptr as *mut dyn Any),
            });
            VMExternRef {
                footer: NonNull::new_unchecked(footer),
                _not_send: PhantomData,
            }
        }
    }

    fn footer(&self) -> &VMExternData {
        // SAFETY: a live VMExternRef keeps its block allocated.
        unsafe { self.footer.as_ref() }
    }

    /// The host value.
    pub fn data(&self) -> &dyn Any {
        // SAFETY: the value lives as long as the block, which this reference
        // keeps alive; it is only ever shared immutably.
        unsafe { self.footer().value_ptr.as_ref() }
    }

    /// The current reference count.
    pub fn strong_count(&self) -> usize {
        self.footer().ref_count.get()
    }

    /// The footer address: what compiled code and tables hold.
    pub fn as_raw(&self) -> usize {
        self.footer.as_ptr() as usize
    }

    /// Gives up this reference's count into a raw word (for a table slot,
    /// global or activation).
    pub fn into_raw(self) -> usize {
        let raw = self.as_raw();
        std::mem::forget(self);
        raw
    }

    /// Takes ownership of one count held by a raw word.
    ///
    /// # Safety
    /// `raw` must come from `into_raw` (or be a word compiled code counted),
    /// and its count must not be used again by the caller.
    pub unsafe fn from_raw(raw: usize) -> Option<VMExternRef> {
        NonNull::new(raw as *mut VMExternData).map(|footer| VMExternRef {
            footer,
            _not_send: PhantomData,
        })
    }

    /// A new counted reference to the block at `raw`, leaving `raw`'s own
    /// count untouched.
    ///
    /// # Safety
    /// `raw` must be null or point at the footer of a live block.
    pub unsafe fn clone_from_raw(raw: usize) -> Option<VMExternRef> {
        // SAFETY: per the contract, the block is live; incrementing first
        // makes the new reference own a count of its own.
        let borrowed = std::mem::ManuallyDrop::new(unsafe { Self::from_raw(raw)? });
        Some((*borrowed).clone())
    }

    pub fn ptr_eq(a: &VMExternRef, b: &VMExternRef) -> bool {
        a.footer == b.footer
    }
}

impl Clone for VMExternRef {
    fn clone(&self) -> Self {
        let c = &self.footer().ref_count;
        c.set(c.get() + 1);
        VMExternRef {
            footer: self.footer,
            _not_send: PhantomData,
        }
    }
}

impl Drop for VMExternRef {
    fn drop(&mut self) {
        let c = &self.footer().ref_count;
        let n = c.get() - 1;
        c.set(n);
        if n == 0 {
            // SAFETY: the count reached zero: this was the last reference.
            unsafe { free_block(self.footer) };
        }
    }
}

/// Drops the value and frees the block.
///
/// # Safety
/// The block's count must be zero and nothing may use it afterwards.
unsafe fn free_block(footer: NonNull<VMExternData>) {
    // SAFETY: per the contract, the block is still allocated and unused.
    unsafe {
        let value_ptr = footer.as_ref().value_ptr.as_ptr();
        let (layout, _) = block_layout(Layout::for_value(&*value_ptr));
        std::ptr::drop_in_place(value_ptr);
        std::alloc::dealloc(value_ptr as *mut u8, layout);
    }
}

/// Frees a block whose count compiled code took to zero.
///
/// # Safety
/// `raw` must point at a live block whose count is zero.
pub unsafe fn free_zero_count(raw: usize) {
    debug_assert!(raw != 0);
    // SAFETY: per the contract.
    unsafe { free_block(NonNull::new_unchecked(raw as *mut VMExternData)) }
}

/// Decrements the count held by a raw word; frees the block at zero. Called
/// by compiled code (through a builtin) when a table slot or global drops
/// its last reference, and by the runtime.
///
/// # Safety
/// `raw` must be null or own one count of a live block.
pub unsafe fn drop_raw(raw: usize) {
    // SAFETY: per the contract.
    drop(unsafe { VMExternRef::from_raw(raw) });
}

impl fmt::Debug for VMExternRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = describe(self);
        write!(
            f,
            "externref({:#x}, count {}, {})",
            d.address, d.ref_count, d.type_name
        )
    }
}

/// What a debugger shows of an externref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternRefDescription {
    /// Address of the footer (the value the wasm code holds).
    pub address: usize,
    pub ref_count: usize,
    /// The Rust type name where the host registered one, else "unknown".
    pub type_name: String,
    /// The host's `Debug` rendering, where the host supplied a formatter.
    pub debug: Option<String>,
}

type Formatter = fn(&dyn Any) -> Option<String>;

/// Type names and `Debug` formatters registered by the typed constructors.
type TypeRegistry = HashMap<TypeId, (&'static str, Option<Formatter>)>;
static TYPES: RwLock<Option<TypeRegistry>> = RwLock::new(None);

fn register<T: Any>(fmt: Option<Formatter>) {
    let id = TypeId::of::<T>();
    if let Some(map) = TYPES.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if map
            .get(&id)
            .is_some_and(|(_, f)| f.is_some() || fmt.is_none())
        {
            return;
        }
    }
    TYPES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(id, (std::any::type_name::<T>(), fmt));
}

/// Registers `T`'s type name (done by [`ExternRef::new`]).
pub fn register_type<T: Any>() {
    register::<T>(None);
}

/// Registers `T`'s type name and `Debug` rendering.
pub fn register_debug<T: Any + fmt::Debug>() {
    register::<T>(Some(|v| v.downcast_ref::<T>().map(|t| format!("{t:?}"))));
}

/// Describes a reference for a debugger.
pub fn describe(r: &VMExternRef) -> ExternRefDescription {
    let value = r.data();
    let id = value.type_id();
    let types = TYPES.read().unwrap_or_else(|e| e.into_inner());
    let entry = types.as_ref().and_then(|m| m.get(&id)).copied();
    ExternRefDescription {
        address: r.as_raw(),
        ref_count: r.strong_count(),
        type_name: entry.map_or("unknown", |(n, _)| n).to_string(),
        debug: entry.and_then(|(_, f)| f).and_then(|f| f(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmoffsets;
    use std::mem::{offset_of, size_of};
    use std::rc::Rc;

    #[test]
    fn footer_layout_matches_vmoffsets() {
        assert_eq!(
            offset_of!(VMExternData, ref_count),
            vmoffsets::externref::REF_COUNT as usize
        );
        assert_eq!(size_of::<VMExternRef>(), size_of::<usize>());
        assert_eq!(size_of::<Option<VMExternRef>>(), size_of::<usize>());
    }

    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn check<T: Any + PartialEq + fmt::Debug + Clone>(v: T) {
        let r = VMExternRef::new(v.clone());
        assert_eq!(r.data().downcast_ref::<T>(), Some(&v));
        let start = r.data() as *const dyn Any as *const u8 as usize;
        assert_eq!(start % std::mem::align_of::<T>(), 0, "value aligned");
        assert_eq!(
            r.as_raw() % std::mem::align_of::<VMExternData>(),
            0,
            "footer aligned"
        );
        assert!(
            r.as_raw() >= start + size_of::<T>(),
            "footer after the value"
        );
        let r2 = r.clone();
        assert_eq!(r.strong_count(), 2);
        drop(r2);
        assert_eq!(r.strong_count(), 1);
    }

    #[derive(Clone, Debug, PartialEq)]
    #[repr(align(16))]
    struct A16(u8);
    #[derive(Clone, Debug, PartialEq)]
    #[repr(align(4096))]
    struct A4096(u64);
    #[derive(Clone, Debug, PartialEq)]
    struct Zst;

    #[test]
    fn values_of_every_alignment_and_zero_size() {
        check(7u8);
        check(0x1122_3344_5566_7788u64);
        check(A16(3));
        check(A4096(9));
        check(Zst);
        check(String::from("a string owns heap memory too"));
    }

    #[test]
    fn drop_runs_once_when_the_last_reference_goes() {
        let drops = Rc::new(Cell::new(0));
        let r = VMExternRef::new(Counted(drops.clone()));
        let raw = r.clone().into_raw();
        drop(r);
        assert_eq!(drops.get(), 0);
        // SAFETY: `raw` owns the count made by `clone` above.
        unsafe { drop_raw(raw) };
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn descriptions_carry_type_and_debug_rendering() {
        register_debug::<A16>();
        let r = VMExternRef::new(A16(5));
        let d = describe(&r);
        assert_eq!(d.ref_count, 1);
        assert_eq!(d.address, r.as_raw());
        assert!(d.type_name.ends_with("A16"), "{}", d.type_name);
        assert_eq!(d.debug.as_deref(), Some("A16(5)"));
    }
}
