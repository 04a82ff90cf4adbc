//! Executable memory for compiled code: map, copy, patch relocations, flip to
//! read+execute, and register `.eh_frame` so native unwinders (gdb, lldb,
//! libgcc) walk through JIT frames.
//!
//! Invariant: once `publish` returns, the code is never written again,
//! except the one byte of each live hook site (`CompiledFunction::
//! site_traps`), which a store's site switches turn from `nop` to `int3`
//! and back (`runtime::traphandlers::DebugSites`); code with such sites
//! stays readable, writable and executable (a debug build only; patching
//! through `mprotect` would race with a signal handler's patch). The code
//! stays mapped until the `CodeMemory` is dropped; the trap registry entry
//! for it is removed before the memory is unmapped.

use crate::compile::{CompiledFunction, RelocTarget};
use cranelift_codegen::binemit::Reloc;
use std::ops::Range;

/// Alignment of each function inside the code region.
const FUNCTION_ALIGN: usize = 16;

pub struct CodeMemory {
    ptr: *mut u8,
    len: usize,
    /// The registered `.eh_frame` section, kept alive while registered.
    eh_frame: Option<Box<[u8]>>,
}

// SAFETY: the mapping is immutable after `publish` but for hook sites'
// bytes, written only through atomic byte stores; the raw pointer is only a
// handle to it.
unsafe impl Send for CodeMemory {}
// SAFETY: as above; shared access executes the code or stores site bytes
// atomically.
unsafe impl Sync for CodeMemory {}

extern "C" {
    fn __register_frame(begin: *const u8);
    fn __deregister_frame(begin: *const u8);
}

#[derive(Debug, thiserror::Error)]
pub enum CodeMemoryError {
    #[error("cannot map executable memory: {0}")]
    Map(String),
    #[error("unsupported relocation {0:?} in generated code")]
    Reloc(Reloc),
}

impl CodeMemory {
    /// Lays out `funcs` in one region, patches relocations with `resolve`,
    /// turns live hook sites into `nop`s, makes the region executable (and
    /// writable when it has such sites) and registers unwind info.
    ///
    /// Returns the memory and the range of each function within it.
    pub fn publish(
        funcs: &[&CompiledFunction],
        resolve: &dyn Fn(&RelocTarget, &[usize]) -> Option<usize>,
    ) -> Result<(CodeMemory, Vec<Range<usize>>), CodeMemoryError> {
        let mut offsets = Vec::with_capacity(funcs.len());
        let mut size = 0usize;
        for f in funcs {
            size = size.next_multiple_of(FUNCTION_ALIGN);
            offsets.push(size);
            size += f.code.len();
        }
        let page = region::page::size();
        let len = size.max(1).next_multiple_of(page);
        let alloc = region::alloc(len, region::Protection::READ_WRITE)
            .map_err(|e| CodeMemoryError::Map(e.to_string()))?;
        let ptr = alloc.as_ptr::<u8>() as *mut u8;
        // The region is owned by `CodeMemory` from here on and freed in Drop.
        std::mem::forget(alloc);
        let mut mem = CodeMemory {
            ptr,
            len,
            eh_frame: None,
        };
        let base = ptr as usize;
        let starts: Vec<usize> = offsets.iter().map(|o| base + o).collect();
        for (f, &off) in funcs.iter().zip(&offsets) {
            // SAFETY: `off + code.len() <= size <= len`, inside the fresh RW mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(f.code.as_ptr(), ptr.add(off), f.code.len());
            }
            for r in &f.relocs {
                let target = resolve(&r.target, &starts).ok_or(CodeMemoryError::Reloc(r.kind))?;
                let at = base + off + r.offset as usize;
                let value = (target as i64).wrapping_add(r.addend);
                // SAFETY: relocation offsets lie inside the function's code,
                // which was just copied into the RW mapping.
                unsafe {
                    match r.kind {
                        Reloc::Abs8 => (at as *mut u64).write_unaligned(value as u64),
                        Reloc::X86CallPCRel4 | Reloc::X86PCRel4 | Reloc::X86CallPLTRel4 => {
                            let rel = value - at as i64;
                            let rel =
                                i32::try_from(rel).map_err(|_| CodeMemoryError::Reloc(r.kind))?;
                            (at as *mut i32).write_unaligned(rel);
                        }
                        Reloc::Arm64Call => {
                            let rel = (value - at as i64) >> 2;
                            let insn = (at as *mut u32).read_unaligned();
                            let imm = (rel as u32) & 0x03ff_ffff;
                            (at as *mut u32).write_unaligned((insn & 0xfc00_0000) | imm);
                        }
                        other => return Err(CodeMemoryError::Reloc(other)),
                    }
                }
            }
        }
        let mut patchable = false;
        for (f, &off) in funcs.iter().zip(&offsets) {
            for &t in &f.site_traps {
                patchable = true;
                // SAFETY: a site lies inside the function's code, copied
                // into the RW mapping above.
                unsafe { *ptr.add(off + t as usize) = crate::compile::NOP };
            }
        }
        let protection = if patchable {
            region::Protection::READ_WRITE_EXECUTE
        } else {
            region::Protection::READ_EXECUTE
        };
        // SAFETY: the mapping is ours and no other reference to it exists.
        unsafe {
            region::protect(ptr, len, protection)
                .map_err(|e| CodeMemoryError::Map(e.to_string()))?;
        }
        mem.register_unwind_info(funcs, &starts);
        let ranges = starts
            .iter()
            .zip(funcs)
            .map(|(s, f)| *s..*s + f.code.len())
            .collect();
        Ok((mem, ranges))
    }

    fn register_unwind_info(&mut self, funcs: &[&CompiledFunction], starts: &[usize]) {
        let mut bytes = Vec::new();
        for (f, start) in funcs.iter().zip(starts) {
            link_eh_frame(&mut bytes, &f.unwind, *start as u64);
        }
        if bytes.is_empty() {
            return;
        }
        // A zero-length entry terminates the section for libgcc's walker.
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        let bytes = bytes.into_boxed_slice();
        // SAFETY: `bytes` is a complete .eh_frame section with a terminator,
        // kept alive in `self.eh_frame` until `__deregister_frame` in Drop.
        unsafe { __register_frame(bytes.as_ptr()) };
        self.eh_frame = Some(bytes);
    }

    pub fn range(&self) -> Range<usize> {
        self.ptr as usize..self.ptr as usize + self.len
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // Out of the PC registry before the pages go: a later mapping at
        // the same address must never be symbolized (or have its traps
        // judged) with this code's tables.
        crate::trap::unregister_code(&self.range());
        if let Some(eh) = &self.eh_frame {
            // SAFETY: registered in `register_unwind_info` with this pointer.
            unsafe { __deregister_frame(eh.as_ptr()) };
        }
        // SAFETY: `ptr`/`len` describe the mapping made by `region::alloc`,
        // which nothing references any more (the owner is being dropped).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// Appends one function's `.eh_frame` records (`CompiledFunction::unwind`:
/// CIEs and FDEs whose start address is an absolute 8-byte 0) to
/// `section`, each FDE moved to `start`. A CIE pointer is relative to its
/// own position, so records stay valid wherever they are appended. Records
/// that do not parse end the function's contribution.
fn link_eh_frame(section: &mut Vec<u8>, records: &[u8], start: u64) {
    let mut at = 0;
    while at + 8 <= records.len() {
        let len = u32::from_le_bytes(records[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 4 + len;
        // 64-bit DWARF (len 0xffff_ffff) is never written by `compile`.
        if len < 4 || len == 0xffff_ffff_usize || end > records.len() {
            return;
        }
        let is_fde = records[at + 4..at + 8] != [0, 0, 0, 0];
        if is_fde && len < 4 + 8 {
            return;
        }
        let base = section.len();
        section.extend_from_slice(&records[at..end]);
        if is_fde {
            let pc = base + 8;
            let old = u64::from_le_bytes(section[pc..pc + 8].try_into().unwrap());
            section[pc..pc + 8].copy_from_slice(&old.wrapping_add(start).to_le_bytes());
        }
        at = end;
    }
}
