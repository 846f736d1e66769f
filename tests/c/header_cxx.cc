// ctest: the generated header compiles as C++ (extern "C" guards, no C-only syntax).
#include "wasmpool.h"

extern "C" void (*const wasmpool_cxx_probe)(wasmpool_pool_config_t *) = wasmpool_pool_config_delete;
