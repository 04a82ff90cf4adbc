;; Two invalid functions: both are reported, each on its instruction.
(module
  (func $f (result i32)
    i64.const 1)
  (func $g (param i32) (result f32)
    local.get 0
    f32.neg))
