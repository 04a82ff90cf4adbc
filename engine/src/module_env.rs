//! Module translation: collects a module's declarations from
//! `cranelift_wasm::translate_module` into a [`ModuleInfo`] and its function
//! bodies for compilation.
//!
//! This is the only place that decides which wasm features the engine
//! accepts; the language server validates with the same set.

use cranelift_entity::EntityRef;
use cranelift_wasm::{
    wasmparser::{self, FuncValidator, FunctionBody, ValidatorResources, WasmFeatures},
    ConstExpr, DataIndex, ElemIndex, EngineOrModuleTypeIndex, EntityIndex, FuncIndex, Global,
    GlobalIndex, Memory, MemoryIndex, ModuleEnvironment, ModuleInternedTypeIndex, Table,
    TableIndex, TypeConvert, TypeIndex, WasmError, WasmFuncType, WasmHeapType, WasmResult,
};
use std::collections::HashMap;
use std::ops::Range;

/// The wasm features wasmscope compiles and runs. Validation anywhere in
/// wasmscope (engine, `check`, the language server) must use this set.
pub fn supported_features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::SIMD
        | WasmFeatures::FLOATS
        | WasmFeatures::GC_TYPES
}

/// Where an import comes from.
#[derive(Clone, Debug)]
pub struct Import {
    pub module: String,
    pub field: String,
    pub index: EntityIndex,
}

/// How an element segment is used.
#[derive(Clone, Debug)]
pub enum ElemKind {
    Active {
        table: TableIndex,
        base: Option<GlobalIndex>,
        offset: u32,
    },
    Passive,
    Declared,
}

/// One item of an element segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemItem {
    Null,
    Func(FuncIndex),
    /// The value of an (immutable, imported) global.
    Global(GlobalIndex),
}

/// An element segment.
#[derive(Clone, Debug)]
pub struct ElemSegment {
    pub kind: ElemKind,
    pub elements: Box<[ElemItem]>,
}

/// How a data segment is used.
#[derive(Clone, Debug)]
pub enum DataKind {
    Active {
        memory: MemoryIndex,
        base: Option<GlobalIndex>,
        offset: u64,
    },
    Passive,
}

/// A data segment; `bytes` is a range of the module's binary.
#[derive(Clone, Debug)]
pub struct DataSegment {
    pub kind: DataKind,
    pub bytes: Range<usize>,
}

/// Everything about a module except its code.
///
/// Index spaces follow wasm: imported entities come first.
#[derive(Debug, Default)]
pub struct ModuleInfo {
    /// Which compiled module this is (`ModuleId::default()` until
    /// `Module` compiles it).
    pub id: ModuleId,
    pub name: Option<String>,
    /// Function types, by `TypeIndex`.
    pub types: Vec<WasmFuncType>,
    /// The type of every function, by `FuncIndex`.
    pub functions: Vec<TypeIndex>,
    pub tables: Vec<Table>,
    pub memories: Vec<Memory>,
    pub globals: Vec<Global>,
    /// Initializers of the defined globals (imported globals have none).
    pub global_inits: Vec<ConstExpr>,
    pub num_imported_funcs: usize,
    pub num_imported_tables: usize,
    pub num_imported_memories: usize,
    pub num_imported_globals: usize,
    pub imports: Vec<Import>,
    /// Exports, in the module's order.
    pub exports: Vec<(String, EntityIndex)>,
    pub start: Option<FuncIndex>,
    pub elems: Vec<ElemSegment>,
    pub data: Vec<DataSegment>,
    /// Names from the `name` section.
    pub func_names: HashMap<u32, String>,
    /// Byte offset of the code section's contents in the module binary;
    /// DWARF offsets are relative to it.
    pub code_section_offset: u64,
    /// Custom sections by name (e.g. `.debug_info`), as ranges of the binary.
    pub custom_sections: Vec<(String, Range<usize>)>,
}

/// A compiled module's identity, as frames and stops name it
/// ([`crate::FrameInfo::module`], [`crate::Module::id`]): unique in the
/// process; the instances of one module share it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub(crate) u64);

impl ModuleId {
    /// A fresh id, never handed out before.
    pub(crate) fn fresh() -> ModuleId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        ModuleId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl ModuleInfo {
    pub fn func_type(&self, func: FuncIndex) -> &WasmFuncType {
        &self.types[self.functions[func.index()].index()]
    }

    pub fn is_imported_func(&self, func: FuncIndex) -> bool {
        func.index() < self.num_imported_funcs
    }

    pub fn num_defined_funcs(&self) -> usize {
        self.functions.len() - self.num_imported_funcs
    }

    /// The name of a function for backtraces: the name section's, an
    /// export's, or `func[N]`.
    pub fn func_name(&self, func: FuncIndex) -> Option<&str> {
        if let Some(n) = self.func_names.get(&func.as_u32()) {
            return Some(n);
        }
        self.exports.iter().find_map(|(name, e)| match e {
            EntityIndex::Function(f) if *f == func => Some(name.as_str()),
            _ => None,
        })
    }

    /// `func_name` by raw function index.
    pub fn func_name_by_index(&self, index: u32) -> Option<&str> {
        (index < self.functions.len() as u32).then(|| self.func_name(FuncIndex::from_u32(index)))?
    }

    pub fn export(&self, name: &str) -> Option<EntityIndex> {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| *e)
    }
}

/// A function body waiting to be compiled.
pub struct FunctionBodyInput<'data> {
    pub validator: FuncValidator<ValidatorResources>,
    pub body: FunctionBody<'data>,
}

/// The `ModuleEnvironment` given to `translate_module`.
pub struct ModuleEnv<'data> {
    pub info: ModuleInfo,
    pub bodies: Vec<FunctionBodyInput<'data>>,
    data_start: usize,
    wasm: &'data [u8],
}

impl<'data> ModuleEnv<'data> {
    pub fn new(wasm: &'data [u8]) -> Self {
        ModuleEnv {
            info: ModuleInfo::default(),
            bodies: Vec::new(),
            data_start: wasm.as_ptr() as usize,
            wasm,
        }
    }

    /// Turns a slice of the module binary into a range of it.
    fn range_of(&self, bytes: &[u8]) -> Range<usize> {
        let start = bytes.as_ptr() as usize - self.data_start;
        debug_assert!(start + bytes.len() <= self.wasm.len());
        start..start + bytes.len()
    }
}

impl<'data> ModuleEnv<'data> {
    fn parse_name_section(
        &mut self,
        data: &'data [u8],
    ) -> Result<(), wasmparser::BinaryReaderError> {
        let offset = self.range_of(data).start;
        let reader = wasmparser::BinaryReader::new(data, offset);
        for name in wasmparser::NameSectionReader::new(reader) {
            match name? {
                wasmparser::Name::Module { name, .. } => self.info.name = Some(name.to_string()),
                wasmparser::Name::Function(map) => {
                    for naming in map {
                        let naming = naming?;
                        self.info
                            .func_names
                            .insert(naming.index, naming.name.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl TypeConvert for ModuleEnv<'_> {
    fn lookup_heap_type(&self, index: wasmparser::UnpackedIndex) -> WasmHeapType {
        WasmHeapType::ConcreteFunc(self.lookup_type_index(index))
    }

    fn lookup_type_index(&self, index: wasmparser::UnpackedIndex) -> EngineOrModuleTypeIndex {
        match index {
            wasmparser::UnpackedIndex::Module(i) => {
                EngineOrModuleTypeIndex::Module(ModuleInternedTypeIndex::from_u32(i))
            }
            // Only produced by GC proposals, which `supported_features` turns off.
            _ => EngineOrModuleTypeIndex::Module(ModuleInternedTypeIndex::from_u32(0)),
        }
    }
}

fn unsupported(what: &str) -> WasmError {
    WasmError::Unsupported(what.to_string())
}

impl<'data> ModuleEnvironment<'data> for ModuleEnv<'data> {
    fn declare_type_func(&mut self, wasm_func_type: WasmFuncType) -> WasmResult<()> {
        self.info.types.push(wasm_func_type);
        Ok(())
    }

    fn type_to_signature(&self, index: TypeIndex) -> WasmResult<ModuleInternedTypeIndex> {
        Ok(ModuleInternedTypeIndex::from_u32(index.as_u32()))
    }

    fn declare_func_import(
        &mut self,
        index: TypeIndex,
        module: &'data str,
        field: &'data str,
    ) -> WasmResult<()> {
        let func = FuncIndex::from_u32(self.info.functions.len() as u32);
        self.info.functions.push(index);
        self.info.num_imported_funcs += 1;
        self.info.imports.push(Import {
            module: module.into(),
            field: field.into(),
            index: EntityIndex::Function(func),
        });
        Ok(())
    }

    fn declare_table_import(
        &mut self,
        table: Table,
        module: &'data str,
        field: &'data str,
    ) -> WasmResult<()> {
        let index = TableIndex::from_u32(self.info.tables.len() as u32);
        self.info.tables.push(table);
        self.info.num_imported_tables += 1;
        self.info.imports.push(Import {
            module: module.into(),
            field: field.into(),
            index: EntityIndex::Table(index),
        });
        Ok(())
    }

    fn declare_memory_import(
        &mut self,
        memory: Memory,
        module: &'data str,
        field: &'data str,
    ) -> WasmResult<()> {
        if memory.shared || memory.memory64 || memory.page_size_log2 != 16 {
            return Err(unsupported("shared, 64-bit or custom-page-size memories"));
        }
        let index = MemoryIndex::from_u32(self.info.memories.len() as u32);
        self.info.memories.push(memory);
        self.info.num_imported_memories += 1;
        self.info.imports.push(Import {
            module: module.into(),
            field: field.into(),
            index: EntityIndex::Memory(index),
        });
        Ok(())
    }

    fn declare_global_import(
        &mut self,
        global: Global,
        module: &'data str,
        field: &'data str,
    ) -> WasmResult<()> {
        let index = GlobalIndex::from_u32(self.info.globals.len() as u32);
        self.info.globals.push(global);
        self.info.num_imported_globals += 1;
        self.info.imports.push(Import {
            module: module.into(),
            field: field.into(),
            index: EntityIndex::Global(index),
        });
        Ok(())
    }

    fn declare_func_type(&mut self, index: TypeIndex) -> WasmResult<()> {
        self.info.functions.push(index);
        Ok(())
    }

    fn declare_table(&mut self, table: Table) -> WasmResult<()> {
        self.info.tables.push(table);
        Ok(())
    }

    fn declare_memory(&mut self, memory: Memory) -> WasmResult<()> {
        if memory.shared || memory.memory64 || memory.page_size_log2 != 16 {
            return Err(unsupported("shared, 64-bit or custom-page-size memories"));
        }
        self.info.memories.push(memory);
        Ok(())
    }

    fn declare_global(&mut self, global: Global, init: ConstExpr) -> WasmResult<()> {
        self.info.globals.push(global);
        self.info.global_inits.push(init);
        Ok(())
    }

    fn declare_func_export(&mut self, func_index: FuncIndex, name: &'data str) -> WasmResult<()> {
        self.info
            .exports
            .push((name.into(), EntityIndex::Function(func_index)));
        Ok(())
    }

    fn declare_table_export(
        &mut self,
        table_index: TableIndex,
        name: &'data str,
    ) -> WasmResult<()> {
        self.info
            .exports
            .push((name.into(), EntityIndex::Table(table_index)));
        Ok(())
    }

    fn declare_memory_export(
        &mut self,
        memory_index: MemoryIndex,
        name: &'data str,
    ) -> WasmResult<()> {
        self.info
            .exports
            .push((name.into(), EntityIndex::Memory(memory_index)));
        Ok(())
    }

    fn declare_global_export(
        &mut self,
        global_index: GlobalIndex,
        name: &'data str,
    ) -> WasmResult<()> {
        self.info
            .exports
            .push((name.into(), EntityIndex::Global(global_index)));
        Ok(())
    }

    fn declare_start_func(&mut self, index: FuncIndex) -> WasmResult<()> {
        self.info.start = Some(index);
        Ok(())
    }

    // Element sections never reach these: `translate` parses them itself.
    fn declare_table_elements(
        &mut self,
        _table_index: TableIndex,
        _base: Option<GlobalIndex>,
        _offset: u32,
        _elements: Box<[FuncIndex]>,
    ) -> WasmResult<()> {
        Err(unsupported(
            "element sections outside `module_env::translate`",
        ))
    }

    fn declare_passive_element(
        &mut self,
        _index: ElemIndex,
        _elements: Box<[FuncIndex]>,
    ) -> WasmResult<()> {
        Err(unsupported(
            "element sections outside `module_env::translate`",
        ))
    }

    fn declare_passive_data(&mut self, data_index: DataIndex, data: &'data [u8]) -> WasmResult<()> {
        debug_assert_eq!(data_index.index(), self.info.data.len());
        let bytes = self.range_of(data);
        self.info.data.push(DataSegment {
            kind: DataKind::Passive,
            bytes,
        });
        Ok(())
    }

    fn reserve_function_bodies(&mut self, bodies: u32, code_section_offset: u64) {
        self.bodies.reserve(bodies as usize);
        self.info.code_section_offset = code_section_offset;
    }

    fn define_function_body(
        &mut self,
        validator: FuncValidator<ValidatorResources>,
        body: FunctionBody<'data>,
    ) -> WasmResult<()> {
        self.bodies.push(FunctionBodyInput { validator, body });
        Ok(())
    }

    fn declare_data_initialization(
        &mut self,
        memory_index: MemoryIndex,
        base: Option<GlobalIndex>,
        offset: u64,
        data: &'data [u8],
    ) -> WasmResult<()> {
        let bytes = self.range_of(data);
        self.info.data.push(DataSegment {
            kind: DataKind::Active {
                memory: memory_index,
                base,
                offset,
            },
            bytes,
        });
        Ok(())
    }

    fn declare_module_name(&mut self, name: &'data str) {
        self.info.name = Some(name.into());
    }

    fn declare_func_name(&mut self, func_index: FuncIndex, name: &'data str) {
        self.info
            .func_names
            .insert(func_index.as_u32(), name.into());
    }

    fn custom_section(&mut self, name: &'data str, data: &'data [u8]) -> WasmResult<()> {
        if name == "name" {
            // A malformed name section is ignored, as the spec requires.
            let _ = self.parse_name_section(data);
        }
        let range = self.range_of(data);
        self.info.custom_sections.push((name.into(), range));
        Ok(())
    }

    fn wasm_features(&self) -> WasmFeatures {
        supported_features()
    }
}

/// Walks a module binary, validating it and handing its sections to `env`.
///
/// Our own version of `cranelift_wasm::translate_module`: the same sections
/// go to the same `ModuleEnvironment` methods, except the element section,
/// whose item expressions may be `global.get` (wasm 2.0), which
/// cranelift-wasm does not accept.
pub fn translate<'data>(wasm: &'data [u8], env: &mut ModuleEnv<'data>) -> WasmResult<()> {
    use wasmparser::{
        DataKind as WpDataKind, ExternalKind, Operator, Parser, Payload, TypeRef, Validator,
    };
    let mut validator = Validator::new_with_features(env.wasm_features());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::Version {
                num,
                encoding,
                range,
            } => validator.version(num, encoding, &range)?,
            Payload::End(offset) => {
                validator.end(offset)?;
            }
            Payload::TypeSection(s) => {
                validator.type_section(&s)?;
                for ty in s.into_iter_err_on_gc_types() {
                    let ty = env.convert_func_type(&ty?);
                    env.declare_type_func(ty)?;
                }
            }
            Payload::ImportSection(s) => {
                validator.import_section(&s)?;
                for import in s {
                    let import = import?;
                    let (module, field) = (import.module, import.name);
                    match import.ty {
                        TypeRef::Func(t) => {
                            env.declare_func_import(TypeIndex::from_u32(t), module, field)?
                        }
                        TypeRef::Memory(m) => env.declare_memory_import(m.into(), module, field)?,
                        TypeRef::Global(g) => {
                            let g = env.convert_global_type(&g);
                            env.declare_global_import(g, module, field)?
                        }
                        TypeRef::Table(t) => {
                            let t = env.convert_table_type(&t)?;
                            env.declare_table_import(t, module, field)?
                        }
                        TypeRef::Tag(_) => return Err(unsupported("exception tags")),
                    }
                }
            }
            Payload::FunctionSection(s) => {
                validator.function_section(&s)?;
                for ty in s {
                    env.declare_func_type(TypeIndex::from_u32(ty?))?;
                }
            }
            Payload::TableSection(s) => {
                validator.table_section(&s)?;
                for t in s {
                    let t = env.convert_table_type(&t?.ty)?;
                    env.declare_table(t)?;
                }
            }
            Payload::MemorySection(s) => {
                validator.memory_section(&s)?;
                for m in s {
                    env.declare_memory(m?.into())?;
                }
            }
            Payload::GlobalSection(s) => {
                validator.global_section(&s)?;
                for g in s {
                    let g = g?;
                    let (init, _) = ConstExpr::from_wasmparser(g.init_expr)?;
                    let ty = env.convert_global_type(&g.ty);
                    env.declare_global(ty, init)?;
                }
            }
            Payload::ExportSection(s) => {
                validator.export_section(&s)?;
                for e in s {
                    let e = e?;
                    let (name, i) = (e.name, e.index);
                    match e.kind {
                        ExternalKind::Func => {
                            env.declare_func_export(FuncIndex::from_u32(i), name)?
                        }
                        ExternalKind::Table => {
                            env.declare_table_export(TableIndex::from_u32(i), name)?
                        }
                        ExternalKind::Memory => {
                            env.declare_memory_export(MemoryIndex::from_u32(i), name)?
                        }
                        ExternalKind::Global => {
                            env.declare_global_export(GlobalIndex::from_u32(i), name)?
                        }
                        ExternalKind::Tag => return Err(unsupported("exception tags")),
                    }
                }
            }
            Payload::StartSection { func, range } => {
                validator.start_section(func, &range)?;
                env.declare_start_func(FuncIndex::from_u32(func))?;
            }
            Payload::ElementSection(s) => {
                validator.element_section(&s)?;
                env.parse_elements(s)?;
            }
            Payload::DataCountSection { count, range } => {
                validator.data_count_section(count, &range)?;
            }
            Payload::DataSection(s) => {
                validator.data_section(&s)?;
                for (i, d) in s.into_iter().enumerate() {
                    let d = d?;
                    match d.kind {
                        WpDataKind::Active {
                            memory_index,
                            offset_expr,
                        } => {
                            let (base, offset) = match offset_expr.get_operators_reader().read()? {
                                Operator::I32Const { value } => (None, u64::from(value as u32)),
                                Operator::GlobalGet { global_index } => {
                                    (Some(GlobalIndex::from_u32(global_index)), 0)
                                }
                                other => {
                                    return Err(WasmError::Unsupported(format!(
                                        "data segment offset {other:?}"
                                    )))
                                }
                            };
                            env.declare_data_initialization(
                                MemoryIndex::from_u32(memory_index),
                                base,
                                offset,
                                d.data,
                            )?;
                        }
                        WpDataKind::Passive => {
                            env.declare_passive_data(DataIndex::from_u32(i as u32), d.data)?
                        }
                    }
                }
            }
            Payload::CodeSectionStart { count, range, .. } => {
                validator.code_section_start(count, &range)?;
                env.reserve_function_bodies(count, range.start as u64);
            }
            Payload::CodeSectionEntry(body) => {
                let v = validator
                    .code_section_entry(&body)?
                    .into_validator(Default::default());
                env.define_function_body(v, body)?;
            }
            Payload::CustomSection(s) => env.custom_section(s.name(), s.data())?,
            other => {
                // Sections of proposals we do not enable: the validator
                // rejects them with a precise error.
                validator.payload(&other)?;
                return Err(WasmError::Unsupported(format!("section {other:?}")));
            }
        }
    }
    Ok(())
}

impl<'data> ModuleEnv<'data> {
    fn parse_elements(
        &mut self,
        section: wasmparser::ElementSectionReader<'data>,
    ) -> WasmResult<()> {
        use wasmparser::{ElementItems, ElementKind, Operator};
        for element in section {
            let element = element?;
            let mut items = Vec::new();
            match element.items {
                ElementItems::Functions(funcs) => {
                    for f in funcs {
                        items.push(ElemItem::Func(FuncIndex::from_u32(f?)));
                    }
                }
                ElementItems::Expressions(_, exprs) => {
                    for expr in exprs {
                        let expr = expr?;
                        let mut ops = expr.get_operators_reader();
                        let item = match ops.read()? {
                            Operator::RefNull { .. } => ElemItem::Null,
                            Operator::RefFunc { function_index } => {
                                ElemItem::Func(FuncIndex::from_u32(function_index))
                            }
                            Operator::GlobalGet { global_index } => {
                                ElemItem::Global(GlobalIndex::from_u32(global_index))
                            }
                            other => {
                                return Err(WasmError::Unsupported(format!(
                                    "element expression {other:?}"
                                )))
                            }
                        };
                        items.push(item);
                    }
                }
            }
            let kind = match element.kind {
                ElementKind::Active {
                    table_index,
                    offset_expr,
                } => {
                    let (base, offset) = match offset_expr.get_operators_reader().read()? {
                        Operator::I32Const { value } => (None, value as u32),
                        Operator::GlobalGet { global_index } => {
                            (Some(GlobalIndex::from_u32(global_index)), 0)
                        }
                        other => {
                            return Err(WasmError::Unsupported(format!(
                                "element segment offset {other:?}"
                            )))
                        }
                    };
                    ElemKind::Active {
                        table: TableIndex::from_u32(table_index.unwrap_or(0)),
                        base,
                        offset,
                    }
                }
                ElementKind::Passive => ElemKind::Passive,
                ElementKind::Declared => ElemKind::Declared,
            };
            self.info.elems.push(ElemSegment {
                kind,
                elements: items.into_boxed_slice(),
            });
        }
        Ok(())
    }
}
