(module
  (global $unused i32 (i32.const 0))
  (func $dead (param $p i32) (local $l i64)
    local.get $p
    drop)
  (func (export "main")
    unreachable
    i32.const 1
    drop))
