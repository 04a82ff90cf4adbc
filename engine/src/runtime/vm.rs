//! The `#[repr(C)]` structures compiled code reads and writes, and the
//! store-owned objects that embed them. Their layout must equal
//! `vmoffsets`; the tests at the bottom check it.

use crate::func_env::{MEMORY_GUARD, MEMORY_RESERVATION};
use std::ptr;

/// What a `funcref` points at. Also the per-function slot of a `VMContext`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VMFuncRef {
    pub wasm_call: *const u8,
    pub vmctx: *mut u8,
    pub type_index: u32,
}

/// Start of every linear memory object; the code generator reads `base`
/// and `current_length`.
#[repr(C)]
pub struct VMMemoryDefinition {
    pub base: *mut u8,
    pub current_length: usize,
}

/// Start of every table object.
#[repr(C)]
pub struct VMTableDefinition {
    pub base: *mut usize,
    pub current_elements: u32,
}

/// A global's storage, big enough for any value.
#[repr(C, align(16))]
#[derive(Clone, Copy, Default)]
pub struct VMGlobalDefinition {
    pub bytes: [u8; 16],
}

pub const WASM_PAGE_SIZE: usize = 1 << 16;
/// Largest number of pages of a 32-bit memory.
pub const MAX_PAGES: u64 = 1 << 16;

/// A linear memory: the whole 32-bit index space plus a guard region is
/// reserved up front, and only `current_length` bytes are accessible. The
/// base never moves, which is what lets compiled code treat it as constant.
#[repr(C)]
pub struct MemoryObject {
    pub def: VMMemoryDefinition,
    reservation: usize,
    pub maximum_pages: Option<u64>,
    pub minimum_pages: u64,
}

impl MemoryObject {
    pub fn new(minimum_pages: u64, maximum_pages: Option<u64>) -> Result<Box<Self>, String> {
        if minimum_pages > MAX_PAGES {
            return Err(format!(
                "memory minimum of {minimum_pages} pages is over the 4 GiB limit"
            ));
        }
        let reservation = (MEMORY_RESERVATION + MEMORY_GUARD) as usize;
        // SAFETY: a fresh private anonymous PROT_NONE mapping; nothing else
        // can alias it.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                reservation,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err("cannot reserve address space for a linear memory".into());
        }
        let mut mem = Box::new(MemoryObject {
            def: VMMemoryDefinition {
                base: base.cast(),
                current_length: 0,
            },
            reservation,
            maximum_pages,
            minimum_pages,
        });
        if mem.grow(minimum_pages).is_none() {
            return Err("cannot commit the initial pages of a linear memory".into());
        }
        Ok(mem)
    }

    pub fn pages(&self) -> u64 {
        (self.def.current_length / WASM_PAGE_SIZE) as u64
    }

    /// Grows by `delta` pages; returns the old size in pages.
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old = self.pages();
        let new = old.checked_add(delta)?;
        let max = self.maximum_pages.unwrap_or(MAX_PAGES).min(MAX_PAGES);
        if new > max {
            return None;
        }
        if delta == 0 {
            return Some(old);
        }
        let new_len = new as usize * WASM_PAGE_SIZE;
        // SAFETY: [base, base + new_len) lies inside our reservation
        // (new_len <= 4 GiB < reservation).
        let r = unsafe {
            libc::mprotect(
                self.def.base.cast(),
                new_len,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if r != 0 {
            return None;
        }
        self.def.current_length = new_len;
        Some(old)
    }

    pub fn data(&self) -> &[u8] {
        // SAFETY: [base, base + current_length) is mapped read-write.
        unsafe { std::slice::from_raw_parts(self.def.base, self.def.current_length) }
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.def.base, self.def.current_length) }
    }
}

impl Drop for MemoryObject {
    fn drop(&mut self) {
        // SAFETY: unmapping the reservation made in `new`; no instance that
        // refers to this memory outlives the store that owns it.
        unsafe {
            libc::munmap(self.def.base.cast(), self.reservation);
        }
    }
}

/// Largest number of elements a table may grow to.
pub const MAX_TABLE_ELEMENTS: u32 = 10_000_000;

/// A table of references (pointer-sized words, 0 = null).
#[repr(C)]
pub struct TableObject {
    pub def: VMTableDefinition,
    elements: Vec<usize>,
    pub maximum: Option<u32>,
    pub minimum: u32,
    /// Elements are counted externrefs (each non-null slot owns a count).
    pub externref: bool,
}

impl Drop for TableObject {
    fn drop(&mut self) {
        if self.externref {
            for &raw in &self.elements {
                // SAFETY: each non-null slot of an externref table owns a count.
                unsafe { crate::externref::drop_raw(raw) };
            }
        }
    }
}

impl TableObject {
    /// A table whose slots start as `init`. For externref tables `init`'s
    /// count must already be taken once per slot by the caller.
    pub fn new(
        minimum: u32,
        maximum: Option<u32>,
        init: usize,
        externref: bool,
    ) -> Result<Box<Self>, String> {
        if minimum > MAX_TABLE_ELEMENTS {
            return Err(format!(
                "table minimum of {minimum} elements is over the limit"
            ));
        }
        let mut t = Box::new(TableObject {
            def: VMTableDefinition {
                base: ptr::null_mut(),
                current_elements: 0,
            },
            elements: vec![init; minimum as usize],
            maximum,
            minimum,
            externref,
        });
        t.sync();
        Ok(t)
    }

    fn sync(&mut self) {
        self.def.base = self.elements.as_mut_ptr();
        self.def.current_elements = self.elements.len() as u32;
    }

    pub fn size(&self) -> u32 {
        self.elements.len() as u32
    }

    pub fn elements(&self) -> &[usize] {
        &self.elements
    }

    /// Stores `value` in slot `i`, counting it and releasing the old value
    /// when the table holds externrefs. `i` must be in bounds.
    pub fn set(&mut self, i: usize, value: usize) {
        if self.externref {
            retain(value);
        }
        let old = std::mem::replace(&mut self.elements[i], value);
        if self.externref {
            // SAFETY: the slot owned one count of `old`.
            unsafe { crate::externref::drop_raw(old) };
        }
    }

    /// Grows by `delta` elements set to `init`; returns the old size.
    pub fn grow(&mut self, delta: u32, init: usize) -> Option<u32> {
        let old = self.size();
        let new = old.checked_add(delta)?;
        if new
            > self
                .maximum
                .unwrap_or(MAX_TABLE_ELEMENTS)
                .min(MAX_TABLE_ELEMENTS)
        {
            return None;
        }
        if self.externref {
            for _ in 0..delta {
                retain(init);
            }
        }
        self.elements.resize(new as usize, init);
        self.sync();
        Some(old)
    }
}

/// Takes one more count of a raw externref word (null is ignored).
pub fn retain(raw: usize) {
    // SAFETY: callers pass words read from live tables, globals or
    // activations, which point at live blocks.
    if let Some(r) = unsafe { crate::externref::VMExternRef::clone_from_raw(raw) } {
        std::mem::forget(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmoffsets;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_vmoffsets() {
        assert_eq!(
            offset_of!(VMFuncRef, wasm_call),
            vmoffsets::funcref::WASM_CALL as usize
        );
        assert_eq!(
            offset_of!(VMFuncRef, vmctx),
            vmoffsets::funcref::VMCTX as usize
        );
        assert_eq!(
            offset_of!(VMFuncRef, type_index),
            vmoffsets::funcref::TYPE_INDEX as usize
        );
        assert_eq!(size_of::<VMFuncRef>(), vmoffsets::funcref::SIZE as usize);
        assert_eq!(
            offset_of!(VMMemoryDefinition, base),
            vmoffsets::memory::BASE as usize
        );
        assert_eq!(
            offset_of!(VMMemoryDefinition, current_length),
            vmoffsets::memory::CURRENT_LENGTH as usize
        );
        assert_eq!(offset_of!(MemoryObject, def), 0);
        assert_eq!(
            offset_of!(VMTableDefinition, base),
            vmoffsets::table::BASE as usize
        );
        assert_eq!(
            offset_of!(VMTableDefinition, current_elements),
            vmoffsets::table::CURRENT_ELEMENTS as usize
        );
        assert_eq!(offset_of!(TableObject, def), 0);
        assert_eq!(
            size_of::<VMGlobalDefinition>(),
            vmoffsets::global::SIZE as usize
        );
        use crate::runtime::traphandlers::VMRuntimeLimits;
        assert_eq!(
            offset_of!(VMRuntimeLimits, stack_limit),
            vmoffsets::limits::STACK_LIMIT as usize
        );
        assert_eq!(
            offset_of!(VMRuntimeLimits, debug_flags),
            vmoffsets::limits::DEBUG_FLAGS as usize
        );
        assert_eq!(
            offset_of!(VMRuntimeLimits, activations),
            vmoffsets::limits::ACTIVATIONS as usize
        );
        assert_eq!(
            offset_of!(VMRuntimeLimits, debug_sites),
            vmoffsets::limits::DEBUG_SITES as usize
        );
        use crate::runtime::activations::VMExternRefActivationsTable as A;
        assert_eq!(offset_of!(A, next), vmoffsets::activations::NEXT as usize);
        assert_eq!(offset_of!(A, end), vmoffsets::activations::END as usize);
        assert_eq!(size_of::<usize>(), vmoffsets::PTR as usize);
    }

    #[test]
    fn memory_grows_to_its_maximum_and_no_further() {
        let mut m = MemoryObject::new(1, Some(3)).unwrap();
        assert_eq!(m.pages(), 1);
        assert_eq!(m.grow(2), Some(1));
        assert_eq!(m.grow(1), None);
        m.data_mut()[3 * WASM_PAGE_SIZE - 1] = 7;
        assert_eq!(m.data()[3 * WASM_PAGE_SIZE - 1], 7);
    }
}
