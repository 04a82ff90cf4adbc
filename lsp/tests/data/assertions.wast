(module (func (export "f") (result i32) (i32.const 1)))
(assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch")
(assert_invalid (module (func (result i32) (i64.const 0))) "type mismatch")
(assert_return (invoke "f") (i32.const 1))
