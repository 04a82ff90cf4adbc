//! Externrefs: counting from compiled code, lifetimes, and leaks.

use crate::instantiate;
use std::cell::Cell;
use std::rc::Rc;
use wasmscope_engine::{ExternRef, Val};

#[derive(Debug)]
struct Tracked(Rc<Cell<u32>>, u32);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn table_fill_then_get() {
    let (mut store, instance, _) = instantiate(
        r#"(module (table $t 10 externref)
          (func (export "fill") (param i32 externref i32) (table.fill $t (local.get 0) (local.get 1) (local.get 2)))
          (func (export "get") (param i32) (result externref) (table.get $t (local.get 0))))"#,
    );
    let drops = Rc::new(Cell::new(0));
    let r = ExternRef::new(Tracked(drops.clone(), 7));
    let fill = instance.get_func(&store, "fill").unwrap();
    fill.call(
        &mut store,
        &[Val::I32(2), Val::ExternRef(Some(r.clone())), Val::I32(3)],
        &mut [],
    )
    .unwrap();
    assert_eq!(r.strong_count(), 4, "three slots and our handle");
    let get = instance.get_func(&store, "get").unwrap();
    let mut out = [Val::I32(0)];
    get.call(&mut store, &[Val::I32(3)], &mut out).unwrap();
    let Val::ExternRef(Some(got)) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(ExternRef::ptr_eq(got, &r));
    assert_eq!(got.data().downcast_ref::<Tracked>().unwrap().1, 7);
    drop(out);
    drop(r);
    assert_eq!(drops.get(), 0);
    drop(store);
    assert_eq!(drops.get(), 1, "the table's references go with the store");
}
