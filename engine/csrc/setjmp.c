/* The one piece of the engine in C: setjmp cannot be called from Rust (it
 * returns twice). `wasmscope_catch` runs `body(payload)` and returns 1, or
 * returns 0 when the body (wasm code, a signal handler or a host trap) called
 * `wasmscope_unwind` with the jump buffer it was given. The frames skipped by
 * the jump are JIT frames and trampolines, which own no resources. */
#include <setjmp.h>

int wasmscope_catch(void **jmp_buf_out, void (*body)(void *), void *payload) {
  jmp_buf buf;
  if (setjmp(buf) != 0) {
    return 0;
  }
  *jmp_buf_out = &buf;
  body(payload);
  return 1;
}

void wasmscope_unwind(void *buf) {
  longjmp(*(jmp_buf *)buf, 1);
}
