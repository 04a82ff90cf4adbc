//! The one place where the layout of runtime structures shared with compiled
//! code is defined.
//!
//! The code generator (`func_env`) reads every offset from here, and the
//! runtime's `#[repr(C)]` structs (`runtime::vm`) are checked against these
//! constants by tests, so a drift between the two fails the build's tests
//! instead of corrupting memory. Never write a literal offset anywhere else.

/// Size of a native pointer on the hosts we support (64-bit only).
pub const PTR: u32 = 8;

/// `VMRuntimeLimits`: per-store limits shared by all instances of a store.
pub mod limits {
    /// `stack_limit: usize`: the lowest native stack address wasm code may use.
    pub const STACK_LIMIT: u32 = 0;
    /// `debug_flags: AtomicU32`: no longer read by compiled code (every
    /// site's switch is in `DEBUG_SITES`); the offset keeps the layout.
    pub const DEBUG_FLAGS: u32 = 8;
    /// `activations: *mut VMExternRefActivationsTable` of the store.
    pub const ACTIVATIONS: u32 = 16;
    /// `debug_sites: *const AtomicU8`: one switch per module offset; a
    /// hook site calls the handler when its switch is set (all of them
    /// while stepping or pausing, a breakpoint's own otherwise).
    pub const DEBUG_SITES: u32 = 24;
}

/// `VMMemoryDefinition`: a linear memory, owned by the store.
pub mod memory {
    /// `base: *mut u8`. Never moves for the life of the memory (the whole
    /// address range is reserved up front), so loads of it may be `readonly`.
    pub const BASE: u32 = 0;
    /// `current_length: usize`, in bytes.
    pub const CURRENT_LENGTH: u32 = 8;
}

/// `VMTableDefinition`: a table, owned by the store.
pub mod table {
    /// `base: *mut usize`: element storage; moves when the table grows.
    pub const BASE: u32 = 0;
    /// `current_elements: u32`.
    pub const CURRENT_ELEMENTS: u32 = 8;
    /// Every element is one pointer-sized word (a `*const VMFuncRef`, or null).
    pub const ELEMENT_SIZE: u32 = super::PTR;
}

/// `VMFuncRef`: what a `funcref` points at, and what an import slot holds.
pub mod funcref {
    /// `wasm_call: *const u8`: native code with the wasm calling convention
    /// `(callee_vmctx, params...) -> results`.
    pub const WASM_CALL: u32 = 0;
    /// `vmctx: *mut u8`: the callee's `VMContext` (or host function data).
    pub const VMCTX: u32 = 8;
    /// `type_index: u32`: engine-wide signature id, compared by `call_indirect`.
    pub const TYPE_INDEX: u32 = 16;
    /// Size of the struct, padded to pointer alignment.
    pub const SIZE: u32 = 24;
}

/// `VMExternData`: the footer of an externref block; an externref is a
/// pointer to it.
pub mod externref {
    /// `ref_count: usize`, adjusted by compiled code without atomics.
    pub const REF_COUNT: u32 = 0;
}

/// `VMExternRefActivationsTable`: references that entered wasm frames.
pub mod activations {
    /// `next: *mut usize`: the next free slot.
    pub const NEXT: u32 = 0;
    /// `end: *mut usize`: one past the last slot; `next == end` means full.
    pub const END: u32 = 8;
}

/// A global's storage: 16 bytes, enough for a `v128`.
pub mod global {
    /// Size of a `VMGlobalDefinition`.
    pub const SIZE: u32 = 16;
}

/// Fixed part of the `VMContext` header.
pub mod vmctx {
    /// `*const VMRuntimeLimits`.
    pub const RUNTIME_LIMITS: u32 = 0;
    /// `*const Builtins`: the table of runtime functions compiled code calls.
    pub const BUILTINS: u32 = 8;
    /// `*mut InstanceData`: back pointer used by the builtins.
    pub const INSTANCE: u32 = 16;
    /// Size of the fixed header; the per-module arrays follow it.
    pub const HEADER_SIZE: u32 = 24;
}

/// Offsets of the variable-sized part of one module's `VMContext`:
///
/// ```text
/// header (vmctx::HEADER_SIZE bytes)
/// memories:  [*mut VMMemoryDefinition; num_memories]
/// tables:    [*mut VMTableDefinition;  num_tables]
/// globals:   [*mut VMGlobalDefinition; num_globals]
/// funcrefs:  [VMFuncRef; num_funcs]        (imported functions first)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VMOffsets {
    pub num_memories: u32,
    pub num_tables: u32,
    pub num_globals: u32,
    pub num_funcs: u32,
}

impl VMOffsets {
    pub fn memories_begin(&self) -> u32 {
        vmctx::HEADER_SIZE
    }
    pub fn tables_begin(&self) -> u32 {
        self.memories_begin() + self.num_memories * PTR
    }
    pub fn globals_begin(&self) -> u32 {
        self.tables_begin() + self.num_tables * PTR
    }
    pub fn funcrefs_begin(&self) -> u32 {
        self.globals_begin() + self.num_globals * PTR
    }
    pub fn size(&self) -> u32 {
        self.funcrefs_begin() + self.num_funcs * funcref::SIZE
    }

    /// Offset of the pointer to memory `index`'s definition.
    pub fn memory_ptr(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_memories);
        self.memories_begin() + index * PTR
    }
    /// Offset of the pointer to table `index`'s definition.
    pub fn table_ptr(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_tables);
        self.tables_begin() + index * PTR
    }
    /// Offset of the pointer to global `index`'s storage.
    pub fn global_ptr(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_globals);
        self.globals_begin() + index * PTR
    }
    /// Offset of function `index`'s `VMFuncRef`.
    pub fn funcref(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_funcs);
        self.funcrefs_begin() + index * funcref::SIZE
    }
}

/// Indices into the builtins table (`runtime::builtins::BUILTINS`).
pub mod builtin {
    pub const MEMORY_GROW: u32 = 0;
    pub const MEMORY_COPY: u32 = 1;
    pub const MEMORY_FILL: u32 = 2;
    pub const MEMORY_INIT: u32 = 3;
    pub const DATA_DROP: u32 = 4;
    pub const TABLE_GROW: u32 = 5;
    pub const TABLE_FILL: u32 = 6;
    pub const TABLE_COPY: u32 = 7;
    pub const TABLE_INIT: u32 = 8;
    pub const ELEM_DROP: u32 = 9;
    /// `(vmctx, externref)`: frees a block whose count compiled code took to 0.
    pub const DROP_EXTERNREF: u32 = 10;
    /// `(vmctx)`: the activations table is full; collect it (through the
    /// GC trampoline, which passes the wasm frame pointer).
    pub const ACTIVATIONS_GC: u32 = 11;
    /// `(vmctx, func_index, wasm_offset, slots, num_locals, writable, fp)`:
    /// the debugger's per-instruction hook (debug-hook compiles only).
    /// `slots` holds 16 bytes per local; if `writable`, values written there
    /// are read back on return.
    pub const DEBUG_HOOK: u32 = 12;
    pub const COUNT: usize = 13;
}
