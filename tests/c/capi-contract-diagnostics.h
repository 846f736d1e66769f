/*
 * The "diagnostics" section of ../shared/capi-contract-next.h (the C surface that follows the
 * first release), copied verbatim below. check_contract.sh compiles it
 * after include/wasmpool.h: every declaration must match ours exactly, every value too.
 */
/* ---- section: diagnostics (backtraces and profiling) ---- */
/* Frames of the wasm call stack at the trap, innermost first (0 for a trap made by
 * wasmpool_trap_new that never crossed wasm). */
size_t wasmpool_trap_frames_len(const wasmpool_trap_t *trap);
uint32_t wasmpool_trap_frame_func_index(const wasmpool_trap_t *trap, size_t frame);
/* The function's name from the module's name section, or NULL; owned by the trap. */
const char *wasmpool_trap_frame_func_name(const wasmpool_trap_t *trap, size_t frame);
/* Byte offset of the trapping (or calling) instruction in the module binary. */
size_t wasmpool_trap_frame_module_offset(const wasmpool_trap_t *trap, size_t frame);
typedef uint8_t wasmpool_profiler_t;
enum { WASMPOOL_PROFILER_NONE = 0, WASMPOOL_PROFILER_PERFMAP = 1 };
void wasmpool_config_set_profiler(wasmpool_config_t *config, wasmpool_profiler_t profiler);
