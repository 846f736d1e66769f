/*
 * The trap entry point: the only place where wasm is entered from the host.
 *
 * `sigsetjmp`/`siglongjmp` live here, in C, because a function that returns
 * twice cannot be written in Rust. The Rust caller sees an ordinary function
 * that returns 1 when the wasm call finished and 0 when the signal handler
 * unwound it. Between `wasmpool_internal_call` and the wasm frames there are
 * only the array-call trampoline and wasm itself, never a Rust frame, so the
 * jump skips no destructor.
 *
 * The symbols are hidden: they are internal to the library, and the prefix
 * keeps them apart from a host's symbols in the static library.
 */

/* Fortified builds turn `siglongjmp` into `__longjmp_chk`, which refuses to
 * jump to a frame below the current stack pointer unless it runs on the
 * alternate signal stack. A fiber's stack lies anywhere in the address
 * space, so that check does not hold for wasm on a fiber: jump plainly. */
#undef _FORTIFY_SOURCE

#include <setjmp.h>
#include <stddef.h>

#define WASMPOOL_INTERNAL __attribute__((visibility("hidden")))

typedef void (*wasmpool_array_call_t)(void *vmctx, void *caller_vmctx, void *values, size_t len);

/* Calls `array_call(vmctx, caller_vmctx, values, len)` with `*buf` as the
 * landing site for `wasmpool_internal_unwind`. Returns 1 when the call
 * returned normally, 0 when it was unwound. The signal mask is not saved
 * (savemask 0): the handler runs with SA_NODEFER and an empty sa_mask, so the
 * mask is unchanged when it jumps back, and entering wasm costs no syscall. */
WASMPOOL_INTERNAL int wasmpool_internal_call(sigjmp_buf *buf, wasmpool_array_call_t array_call, void *vmctx,
                                             void *caller_vmctx, void *values, size_t len) {
    if (sigsetjmp(*buf, 0) != 0) {
        return 0;
    }
    array_call(vmctx, caller_vmctx, values, len);
    return 1;
}

/* Jumps back into the `wasmpool_internal_call` that filled `*buf`, which then
 * returns 0. That call must still be running on this thread. */
WASMPOOL_INTERNAL __attribute__((noreturn)) void wasmpool_internal_unwind(sigjmp_buf *buf) {
    siglongjmp(*buf, 1);
}

/* The size of a sigjmp_buf, so that Rust can check its buffer is big enough. */
WASMPOOL_INTERNAL size_t wasmpool_internal_jmp_buf_size(void) {
    return sizeof(sigjmp_buf);
}

/* The alignment of a sigjmp_buf, checked likewise. */
WASMPOOL_INTERNAL size_t wasmpool_internal_jmp_buf_align(void) {
    return _Alignof(sigjmp_buf);
}
