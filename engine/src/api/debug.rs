//! The engine-driven debugger's API: `DebugInterrupt` (pause,
//! breakpoints from any thread) and `DebugStop` (the paused instruction:
//! locals, frames, globals, memories).

use super::*;

/// Sets or clears a store's debug flag; `Send` and `Sync`, for a debugger's
/// "pause" from another thread.
#[derive(Clone)]
pub struct DebugInterrupt(pub(super) Arc<VMRuntimeLimits>);

// SAFETY: the handle only touches atomics (`trap_stops`, `debug_sites`)
// and `debug_site_tables`, behind its mutex; the other
// fields are only used by the store's own thread. Dropping the last
// reference frees only the site tables, plain memory owned by the mutex.
unsafe impl Send for DebugInterrupt {}
// SAFETY: as above.
unsafe impl Sync for DebugInterrupt {}

impl DebugInterrupt {
    /// Makes every hook site call the handler (steps, pause), or only
    /// those switched on with [`Self::set_site`].
    pub fn set(&self, on: bool) {
        self.0.debug_site_tables.set_all(on);
    }

    /// Makes the hook site at module offset `offset` call the handler
    /// (a breakpoint), whatever [`Self::set`] says. In a store with
    /// several modules compiled with hooks, the switch is shared by the
    /// sites at that offset of each: the handler sees which one stopped.
    pub fn set_site(&self, offset: u32, on: bool) {
        self.0.debug_site_tables.set(offset, on);
    }

    /// Turns every site switch off.
    pub fn clear_sites(&self) {
        self.0.debug_site_tables.clear();
    }

    pub fn is_set(&self) -> bool {
        self.0.debug_site_tables.all()
    }

    /// Whether a trap in debug-hook code calls the handler (with
    /// [`DebugStop::trap`] set) before the stack unwinds. Off by default.
    pub fn set_trap_stops(&self, on: bool) {
        self.0.trap_stops.store(on, Ordering::SeqCst);
    }
}

/// The paused instruction, as the debug handler sees it.
pub struct DebugStop<'a, T> {
    pub(super) raw: &'a mut crate::runtime::debug::RawStop,
    pub(super) instance: &'a InstanceData,
    pub(super) caller: Caller<'a, T>,
    /// Faults on watched pages since the last stop (`watch_hit`).
    pub(super) watch_hits: Vec<crate::runtime::watch::RawHit>,
}

/// A watched range of linear memory 0 (`DebugStop::set_watchpoints`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryWatch {
    pub address: u32,
    /// 1 to 64 bytes.
    pub len: u32,
    /// Stop after a load from the range.
    pub read: bool,
    /// Stop after a store to it.
    pub write: bool,
}

/// An access to a watched range (`DebugStop::watch_hit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchHit {
    /// The watch's address.
    pub address: u32,
    /// A store (else a load).
    pub write: bool,
    /// The wasm instruction that made the access, when wasm code did (a
    /// host function's or `memory.copy`'s access has none).
    pub offset: Option<u32>,
}

impl<'a, T> DebugStop<'a, T> {
    pub fn func_index(&self) -> u32 {
        self.raw.func_index
    }

    /// Module offset of the instruction about to run (or that trapped).
    pub fn wasm_offset(&self) -> u32 {
        self.raw.wasm_offset
    }

    /// The trap of the instruction at [`Self::wasm_offset`], for a stop
    /// made before a trap unwinds (see [`DebugInterrupt::set_trap_stops`]).
    /// Resuming lets the trap go on.
    pub fn trap(&self) -> Option<crate::TrapCode> {
        self.raw.trap
    }

    /// The binary of the paused function's module.
    pub fn module_binary(&self) -> &[u8] {
        &self.instance.wasm
    }

    pub fn module_info(&self) -> &ModuleInfo {
        &self.instance.info
    }

    /// The wasm types of the paused function's locals (parameters first).
    pub fn local_types(&self) -> Vec<ValType> {
        local_types_in(self.instance, self.raw.func_index)
    }

    /// The store's instance of module `module`: the paused one when it is
    /// of that module, else the first instantiated (a module instantiated
    /// twice in one store shares its code, and a frame's return address
    /// does not tell its instance).
    fn instance_of(&self, module: crate::ModuleId) -> Option<&InstanceData> {
        if self.instance.info.id == module {
            return Some(self.instance);
        }
        self.caller
            .objects
            .instances
            .iter()
            .map(|i| &**i)
            .find(|i| i.info.id == module)
    }

    fn slots(&self) -> &[u128] {
        let n = self.raw.num_locals as usize;
        if n == 0 {
            return &[];
        }
        // SAFETY: the hook's contract: `slots` has this many entries and
        // lives until the hook returns, which outlives `self`.
        unsafe { std::slice::from_raw_parts(self.raw.slots, n) }
    }

    /// Whether the paused code is `DebugLocals::Live` code (its registers
    /// are saved, its locals are where the optimized code keeps them).
    fn is_live(&self) -> bool {
        !self.raw.regs.is_null()
    }

    /// The locals' current values, parameters first. `None`: the
    /// optimized code keeps no copy of that local's value here (only with
    /// `DebugLocals::Live`: it is dead, or was folded into the code).
    pub fn locals(&self) -> Vec<Option<Val>> {
        let types = self.local_types();
        if !self.is_live() {
            let id = self.caller.objects.id;
            return types
                .into_iter()
                .zip(self.slots())
                .map(|(t, raw)| Val::from_raw(*raw, t, id).ok())
                .collect();
        }
        // SAFETY: `regs` is the trampoline's save area, alive until the
        // handler returns, which outlives `self`.
        let regs = RegFile::of(unsafe { &mut *self.raw.regs });
        self.live_locals(&types, self.raw.pc, self.raw.fp, &regs)
    }

    /// Locals of the live-debug frame at `fp` whose last completed
    /// instruction ends at `pc`, given its registers.
    fn live_locals(
        &self,
        types: &[ValType],
        pc: usize,
        fp: usize,
        regs: &RegFile,
    ) -> Vec<Option<Val>> {
        let id = self.caller.objects.id;
        let Some((start, live)) = crate::trap::live_debug_of(pc - 1) else {
            return vec![None; types.len()];
        };
        let off = (pc - start) as u32;
        types
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                // Kept locals are read from the home slot: exact at every
                // stop.
                if let Some(addr) = kept_local_addr(&live, i as u32, pc, fp) {
                    let mut bytes = [0u8; 16];
                    // SAFETY: live code stores each kept local in its home
                    // slot entry at entry and at every set
                    // (`FuncEnv::mirror_local`).
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            addr as *const u8,
                            bytes.as_mut_ptr(),
                            val_size(t),
                        )
                    };
                    return Val::from_raw(u128::from_le_bytes(bytes), t, id).ok();
                }
                let raw = read_live(live.loc_of(i as u32, off)?, t, fp, regs)?;
                Val::from_raw(raw, t, id).ok()
            })
            .collect()
    }

    /// The wasm operand stack before the paused instruction, bottom first
    /// (the index a `DW_OP_WASM_location` stack operand counts from): each
    /// entry's type, and its value where the code recorded it (`None`:
    /// a value the compile could not follow, or a vector in optimized
    /// code). `None` for a trap stop: the stack is only recorded at hook
    /// sites.
    pub fn operand_stack(&self) -> Option<Vec<(ValType, Option<Val>)>> {
        if self.raw.trap.is_some() {
            return None;
        }
        // An address in the function's code, and its home slot (the
        // hook's argument, or found from the frame).
        let (pc, slots) = if self.is_live() {
            let pc = self.raw.pc - 1;
            (pc, home_slot(pc, self.raw.fp)? as *const u128)
        } else {
            (self.func_code()?, self.raw.slots as *const u128)
        };
        let Some(site) = crate::trap::stack_site_at(pc, self.raw.wasm_offset) else {
            return Some(Vec::new());
        };
        // Live code marks a record made on the way to this stop (one made
        // on an earlier pass of the site would be stale).
        // SAFETY: the paused frame's home slot, sized by the compile for
        // its site records (`FuncEnv::record_stack`); the frame outlives
        // the stop.
        Some(unsafe {
            self.read_stack_record(
                &site,
                slots,
                !self.is_live() || live_mark(slots) == self.raw.wasm_offset.wrapping_add(1),
            )
        })
    }

    /// A stack record's entries (`compile::StackSite`), their values read
    /// from the home slot at `slots` when `recorded` (else none).
    ///
    /// # Safety
    ///
    /// `slots` is the home slot of a wasm frame that outlives the stop,
    /// and the compile sized it for `site`'s entries.
    unsafe fn read_stack_record(
        &self,
        site: &crate::compile::StackSite,
        slots: *const u128,
        recorded: bool,
    ) -> Vec<(ValType, Option<Val>)> {
        let id = self.caller.objects.id;
        site.entries
            .iter()
            .map(|e| {
                let ty = ValType::from_wasmparser(e.ty);
                let value = e.loc.filter(|_| recorded).and_then(|loc| {
                    // SAFETY: the caller's promise: the entry is inside
                    // the slot, and a record under its mark was stored
                    // for this very stop.
                    let raw = unsafe { slots.add(loc as usize).read_unaligned() };
                    Val::from_raw(raw, ty, id).ok()
                });
                (ty, value)
            })
            .collect()
    }

    /// An address in the paused function's code: its entry, from the
    /// instance's own function table.
    fn func_code(&self) -> Option<usize> {
        let info = &self.instance.info;
        let index = self.raw.func_index;
        if (index as usize) < info.num_imported_funcs || index as usize >= info.functions.len() {
            return None;
        }
        let off = self.instance.offsets.funcref(index) as usize;
        // SAFETY: the paused frame's live vmctx holds a funcref per
        // function, written at instantiation; a defined function's points
        // at its own code.
        let fr =
            unsafe { (self.raw.vmctx.add(off) as *const crate::runtime::vm::VMFuncRef).read() };
        Some(fr.wasm_call as usize)
    }

    /// Changes a local of a number or vector type; it takes effect when
    /// the guest resumes. With `DebugLocals::Live`, only a local the code
    /// keeps in a place of its own here can change.
    pub fn set_local(&mut self, index: u32, value: Val) -> Result<(), Error> {
        let types = self.local_types();
        let Some(&ty) = types.get(index as usize) else {
            return Err(Error::Type(format!("no local {index}")));
        };
        if matches!(ty, ValType::FuncRef | ValType::ExternRef) {
            return Err(Error::Type(
                "references cannot be set from the debugger".into(),
            ));
        }
        if self.raw.trap.is_some() {
            return Err(Error::Type(
                "the function has trapped: its locals can no longer change".into(),
            ));
        }
        if !self.raw.writable {
            return Err(Error::Type(
                "this function has too many locals to change them from the debugger".into(),
            ));
        }
        if value.ty() != ty {
            return Err(Error::Type(format!(
                "local {index} is {ty}, not {}",
                value.ty()
            )));
        }
        let raw = value.to_raw(self.caller.objects.id)?;
        if self.is_live() {
            return self.set_live_local(index, types.len() as u32, ty, raw);
        }
        // SAFETY: `index` < num_locals (checked against the types, whose
        // length is the function's local count); see `slots`.
        unsafe { *self.raw.slots.add(index as usize) = raw };
        Ok(())
    }

    fn set_live_local(
        &mut self,
        index: u32,
        count: u32,
        ty: ValType,
        raw: u128,
    ) -> Result<(), Error> {
        let pc = self.raw.pc;
        let (start, live) = crate::trap::live_debug_of(pc - 1)
            .ok_or_else(|| Error::Type("no debug facts for the paused code".into()))?;
        let off = (pc - start) as u32;
        let loc = live.loc_of(index, off).ok_or_else(|| {
            Error::Type(format!(
                "local {index} has no value here: the optimized code no longer keeps it"
            ))
        })?;
        if let Some(other) = (0..count).find(|&j| j != index && live.loc_of(j, off) == Some(loc)) {
            return Err(Error::Type(format!(
                "local {index} shares its place with local {other} here: it cannot change alone"
            )));
        }
        // SAFETY: see `locals`.
        let regs = unsafe { &mut *self.raw.regs };
        match loc {
            ValueLoc::Gpr(r) => {
                *regs.gpr(r).ok_or_else(|| {
                    Error::Type(format!("local {index} is in the stack pointer"))
                })? = raw as u64
            }
            ValueLoc::Vec(r) => {
                if let Some(v) = regs.vec(r) {
                    *v = [raw as u64, (raw >> 64) as u64];
                }
            }
            ValueLoc::Cfa(o) => {
                let addr = (self.raw.fp + 16)
                    .checked_add_signed(o as isize)
                    .ok_or_else(|| Error::Type("bad stack offset".into()))?;
                let bytes = raw.to_le_bytes();
                // SAFETY: as in `live_locals`: the value's spill slot in
                // the paused frame, `val_size(ty)` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, val_size(ty))
                };
            }
        }
        if let Some(addr) = kept_local_addr(&live, index, pc, self.raw.fp) {
            let bytes = raw.to_le_bytes();
            // SAFETY: as in `live_locals`: the kept local's home-slot entry.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, val_size(ty)) };
        }
        Ok(())
    }

    /// The paused frame, then its callers, innermost first.
    pub fn frames(&self) -> Vec<crate::FrameInfo> {
        let info = &self.instance.info;
        let func = cranelift_wasm::FuncIndex::from_u32(self.raw.func_index);
        let mut out = vec![crate::FrameInfo {
            module: Some(info.id),
            module_name: info.name.clone(),
            func_index: self.raw.func_index,
            func_name: info.func_name(func).map(str::to_string),
            wasm_offset: Some(self.raw.wasm_offset),
            func_offset: None,
        }];
        let mut fp = self.raw.fp;
        while fp != 0 && out.len() < 10_000 {
            // SAFETY: wasm frames keep the caller's frame pointer at [fp] and
            // the return address at [fp + 8]; the chain starts at the paused
            // wasm frame and we stop at the first non-wasm return address.
            let ret = unsafe { *((fp + 8) as *const usize) };
            if !crate::trap::is_wasm_pc(ret - 1) {
                break;
            }
            if let Some(f) = crate::trap::frame_info(ret, true) {
                out.push(f);
            }
            // SAFETY: as above.
            fp = unsafe { *(fp as *const usize) };
        }
        out
    }

    /// The paused instance's globals in index order (imported first):
    /// type, mutability and value.
    pub fn globals(&self) -> Vec<(ValType, bool, Val)> {
        self.globals_of(self.instance)
    }

    /// [`Self::globals`] of the store's instance of `module` (a caller's
    /// frame may run another module's code); `None` when the store has
    /// no instance of it.
    pub fn globals_in(&self, module: crate::ModuleId) -> Option<Vec<(ValType, bool, Val)>> {
        Some(self.globals_of(self.instance_of(module)?))
    }

    fn globals_of(&self, instance: &InstanceData) -> Vec<(ValType, bool, Val)> {
        let objects = &*self.caller.objects;
        instance
            .globals
            .iter()
            .map(|&g| {
                let o = &objects.globals[g as usize];
                (o.ty, o.mutable, objects.global_get(g))
            })
            .collect()
    }

    /// Changes a mutable global of the paused instance.
    pub fn set_global(&mut self, index: u32, value: Val) -> Result<(), Error> {
        self.set_global_in(self.instance.info.id, index, value)
    }

    /// Changes a mutable global of the store's instance of `module`.
    pub fn set_global_in(
        &mut self,
        module: crate::ModuleId,
        index: u32,
        value: Val,
    ) -> Result<(), Error> {
        let instance = self
            .instance_of(module)
            .ok_or_else(|| Error::Type("no instance of that module".into()))?;
        let Some(&g) = instance.globals.get(index as usize) else {
            return Err(Error::Type(format!("no global {index}")));
        };
        self.caller.objects.global_set(g, value)
    }

    /// The bytes of the paused instance's memory `index` (`None` when it
    /// has none); writes are seen by the guest when it resumes.
    pub fn memory(&mut self, index: u32) -> Option<&mut [u8]> {
        self.memory_in(self.instance.info.id, index)
    }

    /// [`Self::memory`] of the store's instance of `module`.
    pub fn memory_in(&mut self, module: crate::ModuleId, index: u32) -> Option<&mut [u8]> {
        let &m = self.instance_of(module)?.memories.get(index as usize)?;
        Some(self.caller.objects.memories[m as usize].data_mut())
    }

    /// Replaces the watchpoints on the paused instance's memory 0: once
    /// wasm code (or a host function, or `memory.copy`) has loaded from a
    /// watched range or changed its bytes, as its kinds say, the guest
    /// stops at the next hook site and [`Self::watch_hit`] tells which. Costs nothing
    /// until an access touches a watched page (x86-64 Linux only).
    pub fn set_watchpoints(&mut self, watches: &[MemoryWatch]) -> Result<(), Error> {
        let here = self.instance.info.id;
        let all: Vec<_> = watches.iter().map(|w| (here, *w)).collect();
        self.set_watchpoints_in(&all)
    }

    /// [`Self::set_watchpoints`], each watch on memory 0 of the store's
    /// instance of its module.
    pub fn set_watchpoints_in(
        &mut self,
        watches: &[(crate::ModuleId, MemoryWatch)],
    ) -> Result<(), Error> {
        let raw = watches
            .iter()
            .map(|(module, w)| {
                let memory = self
                    .memory_bytes_in(*module, 0)
                    .ok_or_else(|| Error::Type("the module has no memory".into()))?;
                let (base, size) = (memory.as_ptr() as usize, memory.len());
                let end = u64::from(w.address) + u64::from(w.len);
                if end > size as u64 {
                    return Err(Error::Type(format!(
                        "{} bytes at {:#x} are outside memory ({size} bytes)",
                        w.len, w.address
                    )));
                }
                Ok(crate::runtime::watch::Watch {
                    start: base + w.address as usize,
                    len: w.len as usize,
                    read: w.read,
                    write: w.write,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        crate::runtime::watch::set(&self.caller.objects.limits, &raw).map_err(Error::Type)
    }

    /// The first watched range an access since the last stop touched, with
    /// a kind its watch stops on: a load from a read watch's range (exact
    /// for wasm loads, whose size is read from the instruction;
    /// `memory.copy` counts when it reads within 64 bytes of it), a store
    /// that changed a write watch's bytes (wasm, `memory.fill`, a host
    /// function).
    pub fn watch_hit(&self) -> Option<WatchHit> {
        // The watched memory's base: the watches were set at a stop that
        // may have been in another instance than this one.
        let base_of = |addr: usize| {
            self.caller.objects.memories.iter().find_map(|m| {
                let d = m.data();
                let base = d.as_ptr() as usize;
                (base..base + d.len()).contains(&addr).then_some(base)
            })
        };
        let page = region::page::size();
        let binary = self.module_binary();
        self.watch_hits.iter().find_map(|hit| {
            let offset = (hit.pc != 0)
                .then(|| crate::trap::frame_info(hit.pc, false))
                .flatten()
                .and_then(|f| f.wasm_offset);
            let size = match (hit.pc, offset) {
                (0, _) => 1,
                (_, Some(o)) => binary
                    .get(o as usize)
                    .and_then(|&op| access_size(op))
                    .unwrap_or(crate::runtime::watch::REACH),
                (_, None) => crate::runtime::watch::REACH,
            };
            // The fault's address is the access's first byte, unless the
            // access began on the page before.
            let first = if hit.addr % page == 0 {
                hit.addr + 1 - size
            } else {
                hit.addr
            };
            (0..)
                .map_while(crate::runtime::watch::watch)
                .find(|w| {
                    ((hit.read && w.read) || (hit.write && w.write))
                        && first < w.start + w.len
                        && w.start < hit.addr + size
                })
                .map(|w| WatchHit {
                    address: (w.start - base_of(w.start).unwrap_or(w.start)) as u32,
                    write: hit.write && w.write,
                    offset,
                })
        })
    }

    /// Read-only view of the paused instance's memory `index`.
    pub fn memory_bytes(&self, index: u32) -> Option<&[u8]> {
        self.memory_bytes_in(self.instance.info.id, index)
    }

    /// [`Self::memory_bytes`] of the store's instance of `module`.
    pub fn memory_bytes_in(&self, module: crate::ModuleId, index: u32) -> Option<&[u8]> {
        let &m = self.instance_of(module)?.memories.get(index as usize)?;
        Some(self.caller.objects.memories[m as usize].data())
    }

    /// The paused instance's tables: element type and current size.
    pub fn tables(&self) -> Vec<(ValType, u32)> {
        let objects = &*self.caller.objects;
        self.instance
            .tables
            .iter()
            .map(|&t| {
                let (o, ty) = &objects.tables[t as usize];
                (*ty, o.size())
            })
            .collect()
    }

    /// Entry `index` of the paused instance's table `table`.
    pub fn table_get(&self, table: u32, index: u32) -> Option<Val> {
        let &t = self.instance.tables.get(table as usize)?;
        let (o, ty) = &self.caller.objects.tables[t as usize];
        let raw = *o.elements().get(index as usize)?;
        Val::from_raw(raw as u128, *ty, self.caller.objects.id).ok()
    }

    /// The index of `func` in the paused instance's function space, when
    /// it is one of the instance's own or imported functions.
    pub fn func_index_of(&self, func: &Func) -> Option<u32> {
        let n = self.instance.info.functions.len() as u32;
        (0..n).find(|&i| {
            self.instance
                .funcref_ptr(cranelift_wasm::FuncIndex::from_u32(i))
                == func.ptr
        })
    }

    /// The locals of frame `depth` (0 = the paused frame, then its callers
    /// as `frames` lists them, of any module in the store); `None` past
    /// the last wasm frame. Callers' locals are read-only: with
    /// `DebugLocals::Mirrored` they come from each frame's home slots, with
    /// `DebugLocals::Live` from where each frame keeps them, its registers
    /// recovered from the callee-saved registers its callees saved.
    pub fn frame_locals(&self, depth: usize) -> Option<Vec<Option<Val>>> {
        if depth == 0 {
            return Some(self.locals());
        }
        let (fp, ret, regs) = self.frame_at(depth)?;
        match &regs {
            Some(regs) => {
                let f = crate::trap::frame_info(ret, true)?;
                let types = local_types_in(self.instance_of(f.module?)?, f.func_index);
                Some(self.live_locals(&types, ret, fp, regs))
            }
            None => self.locals_at(fp, ret),
        }
    }

    /// The wasm frame `depth` (at least 1) levels up from the paused one:
    /// its frame pointer, the return address it runs at and, when the
    /// paused code is live code, its registers (the callees' saves
    /// undone). `None` past the outermost wasm frame.
    fn frame_at(&self, depth: usize) -> Option<(usize, usize, Option<RegFile>)> {
        let mut regs = if self.is_live() {
            // SAFETY: see `locals`.
            Some(RegFile::of(unsafe { &mut *self.raw.regs }))
        } else {
            None
        };
        let mut fp = self.raw.fp;
        let mut pc = self.raw.pc;
        for _ in 0..depth {
            if fp == 0 {
                return None;
            }
            if let Some(regs) = regs.as_mut() {
                let (_, live) = crate::trap::live_debug_of(pc - 1)?;
                regs.unwind(fp, &live);
            }
            // SAFETY: as in `frames`: the wasm frame chain from the paused
            // frame, [fp] the caller's FP and [fp + 8] the return address.
            let ret = unsafe { *((fp + 8) as *const usize) };
            if !crate::trap::is_wasm_pc(ret - 1) {
                return None;
            }
            // SAFETY: as above.
            fp = unsafe { *(fp as *const usize) };
            pc = ret;
        }
        Some((fp, pc, regs))
    }

    /// The operand stack of the frame `depth` levels up (0: the paused
    /// one, `operand_stack`). A caller's is the stack below the arguments
    /// of the call it is in, bottom first (the index a
    /// `DW_OP_WASM_location` stack operand counts from), as live code
    /// records it before a call in the stack ranges it was compiled with
    /// (`FuncEnv::record_call_stack`): empty elsewhere, `None` for a
    /// caller in mirrored code, which records no caller's stack.
    pub fn frame_operand_stack(&self, depth: usize) -> Option<Vec<(ValType, Option<Val>)>> {
        if depth == 0 {
            return self.operand_stack();
        }
        let (fp, ret, _) = self.frame_at(depth)?;
        // Live code only: mirrored code records no caller's stack.
        crate::trap::live_debug_of(ret - 1)?;
        let call = crate::trap::frame_info(ret, true)?.wasm_offset?;
        let Some(site) = crate::trap::call_stack_at(ret - 1, call) else {
            return Some(Vec::new());
        };
        let slots = home_slot(ret - 1, fp)? as *const u128;
        // SAFETY: the caller's home slot, sized by the compile for its
        // call records (`FuncEnv::record_call_stack`); its frame outlives
        // the stop, and its mark names the call it is in when it stored
        // the record before that call.
        Some(unsafe {
            self.read_stack_record(&site, slots, live_mark(slots) == call.wrapping_add(1))
        })
    }

    /// The locals of the wasm frame whose frame pointer is `fp` and which
    /// is running at return address `ret`.
    fn locals_at(&self, fp: usize, ret: usize) -> Option<Vec<Option<Val>>> {
        let (delta, num_locals, module) = crate::trap::debug_locals_at(ret)?;
        let instance = self.instance_of(module?.id)?;
        let func_index = crate::trap::frame_info(ret, true)?.func_index;
        let types = local_types_in(instance, func_index);
        if types.len() != num_locals as usize {
            return None;
        }
        let slots = fp.checked_sub(delta as usize)? as *const u128;
        let id = self.caller.objects.id;
        Some(
            types
                .into_iter()
                .enumerate()
                // SAFETY: a debug-hook frame keeps `num_locals` 16-byte
                // home slots `delta` bytes below its frame pointer (see
                // `compile::CompiledFunction::debug_locals`), written at
                // entry; the frame is live (we are called from a callee).
                .map(|(i, t)| Val::from_raw(unsafe { *slots.add(i) }, t, id).ok())
                .collect(),
        )
    }

    /// The store: memories, globals, tables, exports and the embedder's data.
    pub fn caller(&mut self) -> &mut Caller<'a, T> {
        &mut self.caller
    }
}

/// A frame's registers, as far as they are known: all of them in the
/// paused frame, the callee-saved ones in its callers.
#[derive(Clone)]
struct RegFile {
    gpr: [Option<u64>; 16],
    pub(super) vec: [Option<[u64; 2]>; 16],
}

impl RegFile {
    fn of(saved: &mut crate::runtime::debug::SavedRegs) -> Self {
        RegFile {
            gpr: std::array::from_fn(|i| saved.gpr(i as u8).map(|r| *r)),
            vec: std::array::from_fn(|i| saved.vec(i as u8).map(|v| *v)),
        }
    }

    /// From the live-debug frame at `fp` to its caller: the registers its
    /// prologue saved are the caller's; the caller-saved ones (and every
    /// vector register, under the System V ABI) hold nothing of the caller
    /// at a call.
    fn unwind(&mut self, fp: usize, live: &crate::compile::LiveDebug) {
        let cfa = fp + 16;
        for &(reg, off) in &live.saved_regs {
            if let Some(addr) = cfa.checked_add_signed(off as isize) {
                // SAFETY: the frame's prologue saved `reg` there, and the
                // frame is live (a callee of it is paused).
                self.gpr[reg as usize & 15] = Some(unsafe { *(addr as *const u64) });
            }
        }
        for caller_saved in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
            self.gpr[caller_saved] = None;
        }
        self.vec = [None; 16];
        // SAFETY: the frame's saved frame pointer.
        self.gpr[5] = Some(unsafe { *(fp as *const u64) });
    }
}

/// Bytes a value of type `ty` takes in a spill slot.
/// The address of kept local `local` (see `LiveDebug::kept_offset`) of the
/// live frame at `fp` paused at `pc`, if it is kept.
/// The wasm types of function `func_index`'s locals in `instance`'s
/// module (parameters first).
fn local_types_in(instance: &InstanceData, func_index: u32) -> Vec<ValType> {
    let info = &instance.info;
    let func = cranelift_wasm::FuncIndex::from_u32(func_index);
    let mut out: Vec<ValType> = info
        .func_type(func)
        .params()
        .iter()
        .map(ValType::from_wasm)
        .collect();
    let Some(defined) = (func_index as usize).checked_sub(info.num_imported_funcs) else {
        return out;
    };
    let body = wasmparser::Parser::new(0)
        .parse_all(&instance.wasm)
        .filter_map(|p| match p {
            Ok(wasmparser::Payload::CodeSectionEntry(b)) => Some(b),
            _ => None,
        })
        .nth(defined);
    if let Some(locals) = body.and_then(|b| b.get_locals_reader().ok()) {
        for l in locals.into_iter().flatten() {
            let ty = ValType::from_wasmparser(l.1);
            out.extend(std::iter::repeat_n(ty, l.0 as usize));
        }
    }
    out
}

/// `FunctionDebugInfo::local_slots` from the compiler's facts: the home
/// slot sits `delta` below the frame pointer; `Mirrored` code keeps local
/// `i` at `16 * i`, `Live` code keeps its kept locals after the vmctx.
pub(super) fn local_slots(
    debug_locals: &Option<(u32, u32)>,
    live: Option<&crate::compile::LiveDebug>,
) -> Vec<(u32, i32)> {
    let Some((delta, num_locals)) = *debug_locals else {
        return Vec::new();
    };
    let base = -(delta as i32);
    let mut out: Vec<(u32, i32)> = match live {
        Some(live) => live
            .kept
            .iter()
            .filter_map(|&l| Some((l, base + live.kept_offset(l)? as i32)))
            .collect(),
        None => (0..num_locals).map(|i| (i, base + 16 * i as i32)).collect(),
    };
    out.sort_unstable();
    out
}

fn kept_local_addr(
    live: &crate::compile::LiveDebug,
    local: u32,
    pc: usize,
    fp: usize,
) -> Option<usize> {
    Some(home_slot(pc - 1, fp)? + live.kept_offset(local)?)
}

/// The mark of the stack record in a live frame's home slot at `slots`:
/// the module offset plus one of the site or call that stored it
/// (`func_env::LIVE_STACK_RECORDED`, the word after the vmctx).
///
/// # Safety
///
/// `slots` is a live frame's home slot, alive for the read.
unsafe fn live_mark(slots: *const u128) -> u32 {
    // SAFETY: the caller's promise; the mark is inside the slot.
    unsafe {
        ((slots as usize + crate::func_env::LIVE_STACK_RECORDED as usize) as *const u32)
            .read_unaligned()
    }
}

/// The address of the home slot of the debug-hook frame at `fp` whose
/// code `pc` is in.
fn home_slot(pc: usize, fp: usize) -> Option<usize> {
    let (delta, _) = crate::trap::debug_locals_of(pc)?;
    fp.checked_sub(delta as usize)
}

/// A live value's bits at `loc`, given its frame's registers and frame
/// pointer.
fn read_live(loc: ValueLoc, ty: ValType, fp: usize, regs: &RegFile) -> Option<u128> {
    Some(match loc {
        ValueLoc::Gpr(r) => u128::from(regs.gpr[r as usize & 15]?),
        ValueLoc::Vec(r) => {
            let [lo, hi] = regs.vec[r as usize & 15]?;
            u128::from(lo) | u128::from(hi) << 64
        }
        ValueLoc::Cfa(o) => {
            let addr = (fp + 16).checked_add_signed(o as isize)?;
            let mut bytes = [0u8; 16];
            let n = val_size(ty);
            // SAFETY: Cranelift's value-label ranges place the value in
            // this live frame's spill area, `n` bytes.
            unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), n) };
            u128::from_le_bytes(bytes)
        }
    })
}

fn val_size(ty: ValType) -> usize {
    match ty {
        ValType::I32 | ValType::F32 => 4,
        ValType::V128 => 16,
        _ => 8,
    }
}

/// The monomorphic entry of `Store::<T>::set_debug_handler`'s handler.
///
/// # Safety
/// `store` is the live `StoreInner<T>` that installed the handler, called
/// from its own thread while wasm runs (no other borrow is active).
pub(super) unsafe fn call_debug_handler<T>(
    store: *mut u8,
    raw: &mut crate::runtime::debug::RawStop,
) -> Result<(), Trap> {
    // SAFETY: per the contract.
    let store = unsafe { &mut *(store as *mut StoreInner<T>) };
    let Some(mut handler) = store.debug_handler.take() else {
        return Ok(());
    };
    // SAFETY: the hook's vmctx is a live instance's.
    let instance = unsafe { InstanceData::from_vmctx(raw.vmctx) };
    let index = instance.index;
    // The debugger reads memory: watched pages open while it runs. The
    // accesses that asked for this stop (every site forced on) are its.
    crate::runtime::watch::disarm();
    let watch_hits = crate::runtime::watch::take_hits();
    store.objects.limits.debug_site_tables.unforce();
    let limits = store.objects.limits.clone();
    let mut stop = DebugStop {
        raw,
        instance,
        caller: Caller {
            objects: &mut store.objects,
            data: &mut store.data,
            instance: Some(index),
        },
        watch_hits,
    };
    let result = handler(&mut stop);
    crate::runtime::watch::arm(&limits);
    if store.debug_handler.is_none() {
        store.debug_handler = Some(handler);
    }
    result
}

/// The bytes a plain load or store opcode (0x28 to 0x3e) accesses.
fn access_size(opcode: u8) -> Option<usize> {
    Some(match opcode {
        // i32.load8/16, i64.load8/16, then the stores' 8/16.
        0x2c | 0x2d | 0x30 | 0x31 | 0x3a | 0x3c => 1,
        0x2e | 0x2f | 0x32 | 0x33 | 0x3b | 0x3d => 2,
        // i32/f32 loads and stores, i64.load32, i64.store32.
        0x28 | 0x2a | 0x34 | 0x35 | 0x36 | 0x38 | 0x3e => 4,
        0x29 | 0x2b | 0x37 | 0x39 => 8,
        _ => return None,
    })
}
