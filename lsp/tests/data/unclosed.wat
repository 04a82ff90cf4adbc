(module
  (func $main
    nop
