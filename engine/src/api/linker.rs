//! `Linker`: names imports and instantiates against them.

use super::*;

enum Definition<T> {
    Extern(Extern),
    HostFunc(FuncType, HostClosure<T>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(t, c) => Definition::HostFunc(t.clone(), c.clone()),
        }
    }
}

/// Resolves imports by (module, name).
pub struct Linker<T> {
    defs: HashMap<(String, String), Definition<T>>,
}

impl<T: 'static> Default for Linker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Linker<T> {
    pub fn new() -> Self {
        Linker {
            defs: HashMap::new(),
        }
    }

    /// Defines an import.
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.defs
            .insert((module.into(), name.into()), Definition::Extern(item));
        self
    }

    /// Defines a host function import, created in each store on use.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + 'static,
    ) -> &mut Self {
        self.defs.insert(
            (module.into(), name.into()),
            Definition::HostFunc(ty, Arc::new(f)),
        );
        self
    }

    /// Defines every export of `instance` under `module`.
    pub fn instance(&mut self, store: &Store<T>, module: &str, instance: Instance) -> &mut Self {
        for (name, e) in instance.exports(store) {
            self.define(module, &name, e);
        }
        self
    }

    pub fn get(&self, module: &str, name: &str) -> bool {
        self.defs
            .contains_key(&(module.to_string(), name.to_string()))
    }

    /// Resolves the module's imports and instantiates it.
    pub fn instantiate(&self, store: &mut Store<T>, module: &Module) -> Result<Instance, Error> {
        let mut imports = Vec::new();
        let mut host_cache: Vec<((String, String), Func)> = Vec::new();
        for (m, n, _ty) in module.imports() {
            let key = (m.to_string(), n.to_string());
            let def = self.defs.get(&key).cloned().ok_or_else(|| {
                Error::Link(format!("unknown import: `{m}::{n}` has not been defined"))
            })?;
            let e = match def {
                Definition::Extern(e) => e,
                Definition::HostFunc(ty, c) => {
                    if let Some((_, f)) = host_cache.iter().find(|(k, _)| *k == key) {
                        Extern::Func(*f)
                    } else {
                        let f = new_host_func(&mut store.inner, ty, c)?;
                        host_cache.push((key, f));
                        Extern::Func(f)
                    }
                }
            };
            imports.push(e);
        }
        Instance::new(store, module, &imports)
    }
}
