fn main() {
    println!("cargo:rerun-if-changed=csrc/setjmp.c");
    cc::Build::new()
        .file("csrc/setjmp.c")
        .warnings(true)
        .compile("wasmscope_setjmp");
}
