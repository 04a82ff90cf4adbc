//! Instance state reachable from a `VMContext`: the vmctx block itself and
//! what the builtins need (segments and their dropped flags).

use super::vm::VMFuncRef;
use crate::module_env::{ElemItem, ModuleInfo};
use crate::vmoffsets::{self, VMOffsets};
use cranelift_wasm::FuncIndex;
use std::alloc::Layout;
use std::sync::Arc;

/// An instance's `VMContext` memory: `VMOffsets::size()` bytes, 16-aligned.
pub struct VMContextAlloc {
    ptr: *mut u8,
    layout: Layout,
}

impl VMContextAlloc {
    pub fn new(size: u32) -> Self {
        let layout = Layout::from_size_align(size.max(16) as usize, 16).expect("vmctx layout");
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        VMContextAlloc { ptr, layout }
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Writes a pointer-sized value at `offset`.
    pub fn set_ptr(&mut self, offset: u32, value: usize) {
        assert!(offset as usize + 8 <= self.layout.size());
        // SAFETY: in bounds (checked) and 8-aligned (all pointer slots are).
        unsafe { (self.ptr.add(offset as usize) as *mut usize).write(value) }
    }
}

impl Drop for VMContextAlloc {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// The per-instance data the runtime needs while the instance's code runs.
pub struct InstanceData {
    pub(crate) info: Arc<ModuleInfo>,
    pub(crate) wasm: Arc<Vec<u8>>,
    pub(crate) offsets: VMOffsets,
    pub(crate) vmctx: VMContextAlloc,
    pub(crate) dropped_data: Vec<bool>,
    pub(crate) dropped_elems: Vec<bool>,
    /// Store indices of this instance's memories, tables and globals.
    pub(crate) memories: Vec<u32>,
    pub(crate) tables: Vec<u32>,
    pub(crate) globals: Vec<u32>,
    pub(crate) index: u32,
    /// Keeps the module's code mapped while the instance exists.
    pub(crate) _code: Arc<dyn std::any::Any>,
}

impl InstanceData {
    pub fn offsets(&self) -> &VMOffsets {
        &self.offsets
    }

    /// The bytes of data segment `seg`; empty once dropped.
    pub fn data_segment(&self, seg: u32) -> &[u8] {
        if self.dropped_data[seg as usize] {
            return &[];
        }
        &self.wasm[self.info.data[seg as usize].bytes.clone()]
    }

    pub fn drop_data(&mut self, seg: u32) {
        self.dropped_data[seg as usize] = true;
    }

    /// The items of element segment `seg`; empty once dropped.
    pub fn elem_segment(&self, seg: u32) -> &[ElemItem] {
        if self.dropped_elems[seg as usize] {
            return &[];
        }
        &self.info.elems[seg as usize].elements
    }

    pub fn drop_elem(&mut self, seg: u32) {
        self.dropped_elems[seg as usize] = true;
    }

    /// The table word for an element item: a funcref's address, a global's
    /// reference, or null.
    pub fn elem_value(&self, item: ElemItem) -> usize {
        match item {
            ElemItem::Null => 0,
            ElemItem::Func(f) => self.funcref_ptr(f) as usize,
            ElemItem::Global(g) => {
                let slot = self.offsets.global_ptr(g.as_u32()) as usize;
                // SAFETY: global slots of a live vmctx point at 16-byte global
                // storage owned by the store; references are its first word.
                unsafe { **(self.vmctx.as_ptr().add(slot) as *const *const usize) }
            }
        }
    }

    /// The address of function `f`'s `VMFuncRef` in this instance's vmctx.
    pub fn funcref_ptr(&self, f: FuncIndex) -> *const VMFuncRef {
        // SAFETY: funcref(f) is inside the vmctx block for every f of the module.
        unsafe {
            self.vmctx
                .as_ptr()
                .add(self.offsets.funcref(f.as_u32()) as usize) as *const VMFuncRef
        }
    }

    /// Reads the instance behind a vmctx pointer.
    ///
    /// # Safety
    /// `vmctx` must be the vmctx of a live instance.
    pub unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a InstanceData {
        // SAFETY: per the contract, the INSTANCE slot holds a live pointer.
        unsafe {
            &*(*(vmctx.add(vmoffsets::vmctx::INSTANCE as usize) as *const *const InstanceData))
        }
    }
}
