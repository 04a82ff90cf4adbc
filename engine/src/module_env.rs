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

/// An element segment; `None` entries are `ref.null`.
#[derive(Clone, Debug)]
pub struct ElemSegment {
    pub kind: ElemKind,
    pub elements: Box<[Option<FuncIndex>]>,
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

    fn declare_table_elements(
        &mut self,
        table_index: TableIndex,
        base: Option<GlobalIndex>,
        offset: u32,
        elements: Box<[FuncIndex]>,
    ) -> WasmResult<()> {
        self.info.elems.push(ElemSegment {
            kind: ElemKind::Active {
                table: table_index,
                base,
                offset,
            },
            elements: nullable(&elements),
        });
        Ok(())
    }

    fn declare_passive_element(
        &mut self,
        index: ElemIndex,
        elements: Box<[FuncIndex]>,
    ) -> WasmResult<()> {
        debug_assert_eq!(index.index(), self.info.elems.len());
        self.info.elems.push(ElemSegment {
            kind: ElemKind::Passive,
            elements: nullable(&elements),
        });
        Ok(())
    }

    fn declare_elements(&mut self, elements: Box<[FuncIndex]>) -> WasmResult<()> {
        self.info.elems.push(ElemSegment {
            kind: ElemKind::Declared,
            elements: nullable(&elements),
        });
        Ok(())
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

/// cranelift-wasm marks `ref.null` element items with the reserved index.
fn nullable(elements: &[FuncIndex]) -> Box<[Option<FuncIndex>]> {
    use cranelift_entity::packed_option::ReservedValue;
    elements
        .iter()
        .map(|f| (!f.is_reserved_value()).then_some(*f))
        .collect()
}
