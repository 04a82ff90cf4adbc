//! Executable memory for compiled code: map, copy, patch relocations, flip to
//! read+execute, and register `.eh_frame` so native unwinders (gdb, lldb,
//! libgcc) walk through JIT frames.
//!
//! Invariant: once `publish` returns, the code is never written again,
//! except the bytes of live hook sites (`CompiledFunction::site_traps`
//! and `site_flips`), which a store's site switches patch
//! (`runtime::traphandlers::DebugSites`). Code with such sites is mapped
//! twice from one memory file: read+execute where it runs, read+write at
//! another address where it is patched (`CodeMemory::writable`), so no
//! page is ever writable and executable at once and no patch waits on
//! `mprotect` (which would race with a signal handler's patch). The code
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
    /// The read+write view of the same pages, for code with live hook
    /// sites; null otherwise.
    write: *mut u8,
    /// The registered `.eh_frame` section, kept alive while registered.
    eh_frame: Option<Box<[u8]>>,
}

// SAFETY: the mapping is immutable after `publish` but for hook sites'
// bytes, written only through atomic byte stores to the write view; the
// raw pointers are only handles to it.
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
        let patchable = funcs
            .iter()
            .any(|f| !f.site_traps.is_empty() || !f.site_flips.is_empty());
        let (ptr, write) = if patchable {
            map_twice(len)?
        } else {
            let alloc = region::alloc(len, region::Protection::READ_WRITE)
                .map_err(|e| CodeMemoryError::Map(e.to_string()))?;
            let ptr = alloc.as_ptr::<u8>() as *mut u8;
            // The region is owned by `CodeMemory` from here on and freed in Drop.
            std::mem::forget(alloc);
            (ptr, ptr)
        };
        let mut mem = CodeMemory {
            ptr,
            len,
            write: if patchable {
                write
            } else {
                std::ptr::null_mut()
            },
            eh_frame: None,
        };
        let base = ptr as usize;
        // Where the code is written: `write + o` is `ptr + o`.
        let out = |o: usize| (write as usize + o) as *mut u8;
        let starts: Vec<usize> = offsets.iter().map(|o| base + o).collect();
        for (f, &off) in funcs.iter().zip(&offsets) {
            // SAFETY: `off + code.len() <= size <= len`, inside the fresh RW mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(f.code.as_ptr(), out(off), f.code.len());
            }
            for r in &f.relocs {
                let target = resolve(&r.target, &starts).ok_or(CodeMemoryError::Reloc(r.kind))?;
                let at = base + off + r.offset as usize;
                let value = (target as i64).wrapping_add(r.addend);
                let written = out(off + r.offset as usize);
                // SAFETY: relocation offsets lie inside the function's code,
                // which was just copied into the RW mapping.
                unsafe {
                    match r.kind {
                        Reloc::Abs8 => (written as *mut u64).write_unaligned(value as u64),
                        Reloc::X86CallPCRel4 | Reloc::X86PCRel4 | Reloc::X86CallPLTRel4 => {
                            let rel = value - at as i64;
                            let rel =
                                i32::try_from(rel).map_err(|_| CodeMemoryError::Reloc(r.kind))?;
                            (written as *mut i32).write_unaligned(rel);
                        }
                        Reloc::Arm64Call => {
                            let rel = (value - at as i64) >> 2;
                            let insn = (written as *mut u32).read_unaligned();
                            let imm = (rel as u32) & 0x03ff_ffff;
                            (written as *mut u32).write_unaligned((insn & 0xfc00_0000) | imm);
                        }
                        other => return Err(CodeMemoryError::Reloc(other)),
                    }
                }
            }
        }
        for (f, &off) in funcs.iter().zip(&offsets) {
            for t in f.patched_site_traps() {
                // SAFETY: a site lies inside the function's code, copied
                // into the RW mapping above.
                unsafe { *out(off + t as usize) = crate::compile::NOP };
            }
        }
        if !patchable {
            // SAFETY: the mapping is ours and no other reference to it exists.
            unsafe {
                region::protect(ptr, len, region::Protection::READ_EXECUTE)
                    .map_err(|e| CodeMemoryError::Map(e.to_string()))?;
            }
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

    /// Where the byte of code at `addr` (in `range`) is written: its
    /// read+write view, for code with live hook sites; `None` otherwise.
    pub fn writable(&self, addr: usize) -> Option<usize> {
        (!self.write.is_null() && self.range().contains(&addr))
            .then(|| self.write as usize + (addr - self.ptr as usize))
    }
}

/// Maps `len` bytes of a fresh memory file twice: (read+execute view,
/// read+write view).
fn map_twice(len: usize) -> Result<(*mut u8, *mut u8), CodeMemoryError> {
    let err =
        |what: &str| CodeMemoryError::Map(format!("{what}: {}", std::io::Error::last_os_error()));
    // SAFETY: plain system calls on a descriptor this function owns and
    // closes; the mappings are checked before use and owned by the caller.
    unsafe {
        let fd = libc::memfd_create(c"wasmscope-code".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(err("memfd_create"));
        }
        let map = |prot| libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0);
        let mapped = if libc::ftruncate(fd, len as libc::off_t) != 0 {
            Err(err("ftruncate"))
        } else {
            let write = map(libc::PROT_READ | libc::PROT_WRITE);
            let exec = map(libc::PROT_READ | libc::PROT_EXEC);
            match (write == libc::MAP_FAILED, exec == libc::MAP_FAILED) {
                (false, false) => Ok((exec.cast(), write.cast())),
                (w, x) => {
                    let e = err("mmap");
                    if !w {
                        libc::munmap(write, len);
                    }
                    if !x {
                        libc::munmap(exec, len);
                    }
                    Err(e)
                }
            }
        };
        libc::close(fd);
        mapped
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
        // SAFETY: `ptr`/`len` (and `write`/`len`) describe the mappings
        // made by `publish`, which nothing references any more (the owner
        // is being dropped; stores holding live sites hold it).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
            if !self.write.is_null() {
                libc::munmap(self.write.cast(), self.len);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{INT3, NOP};

    /// The permissions `/proc/self/maps` gives the mapping holding `addr`.
    fn permissions(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .find_map(|l| {
                let (range, rest) = l.split_once(' ')?;
                let (a, b) = range.split_once('-')?;
                let (a, b) = (
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                );
                (a..b).contains(&addr).then(|| rest[..4].to_string())
            })
            .unwrap_or_else(|| panic!("{addr:#x} is not mapped"))
    }

    #[test]
    fn code_with_live_sites_is_never_writable_where_it_runs() {
        // A site's `int3`, then `ret`.
        let f = CompiledFunction {
            code: vec![INT3, 0xC3],
            relocs: Vec::new(),
            traps: Vec::new(),
            srclocs: Vec::new(),
            unwind: Vec::new(),
            value_labels: Vec::new(),
            frame_size: 0,
            stack_maps: Vec::new(),
            debug_locals: None,
            live: None,
            site_traps: vec![0],
            site_flips: Vec::new(),
            stack_sites: Vec::new(),
            call_stacks: Vec::new(),
        };
        let (mem, ranges) = CodeMemory::publish(&[&f], &|_, _| None).unwrap();
        let run = ranges[0].start;
        let write = mem.writable(run).expect("a view to patch through");
        assert_ne!(write, run);
        assert_eq!(permissions(run), "r-xs");
        assert_eq!(permissions(write), "rw-s");
        // SAFETY: `run` is the function's first byte, mapped readable.
        let at_run = || unsafe { *(run as *const u8) };
        assert_eq!(at_run(), NOP, "published with its site off");
        // SAFETY: `write` is that byte in the read+write view.
        unsafe { *(write as *mut u8) = INT3 };
        assert_eq!(at_run(), INT3, "a patch is seen where the code runs");

        let plain = CompiledFunction {
            site_traps: Vec::new(),
            ..f
        };
        let (mem, ranges) = CodeMemory::publish(&[&plain], &|_, _| None).unwrap();
        assert_eq!(mem.writable(ranges[0].start), None);
        assert_eq!(permissions(ranges[0].start), "r-xp");
    }
}
