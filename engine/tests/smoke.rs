use wasmscope_engine::*;

#[test]
fn identity() {
    let engine = Engine::new(Config::default()).unwrap();
    let m = Module::new(
        &engine,
        br#"(module (func (export "f") (param i64) (result i64) local.get 0))"#,
    )
    .unwrap();
    for d in m.functions_debug_info() {
        eprintln!("{:x?}", d.code);
    }
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &m, &[]).unwrap();
    let f = i.get_typed_func::<i64, i64, _>(&store, "f").unwrap();
    assert_eq!(f.call(&mut store, 42).unwrap(), 42);
}
