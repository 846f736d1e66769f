// ctest: the C++17 wrapper (include/wasmpool.hh) for the cycle and host-function
// scenarios: RAII objects, host functions as lambdas, errors and traps as exceptions.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "wasmpool.hh"

static int failures = 0;
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                                   \
    }                                                                               \
  } while (0)

static const char *const WAT = R"(
(module
  (import "host" "log" (func $log (param i32 i32) (result i32)))
  (import "host" "fail" (func $fail (param i32)))
  (memory (export "memory") 1)
  (global $g (export "g") (mut i64) (i64.const 5))
  (data (i32.const 32) "cycle")
  (func (export "run") (param $x i32) (result i64)
    (local $seen i64)
    ;; the state a fresh instance must have: byte 100 is 0, g is 5
    (local.set $seen (i64.add (global.get $g) (i64.load8_u (i32.const 100))))
    (i32.store8 (i32.const 100) (i32.const 1))
    (global.set $g (i64.extend_i32_s (local.get $x)))
    (drop (call $log (i32.const 32) (i32.const 5)))
    (local.get $seen))
  (func (export "fail") (param i32) (call $fail (local.get 0))))
)";

static long iterations(long normal) {
  const char *env = std::getenv("WASMPOOL_TEST_ITERATIONS");
  return env && std::atol(env) > 0 && std::atol(env) < normal ? std::atol(env) : normal;
}

int main() {
  using wasmpool::val::i32;
  std::atomic<long> logged{0};
  std::atomic<int> finalized{0};
  {
    wasmpool::PoolConfig pool;
    pool.slots(8).max_memory_size(1 << 20).max_unused_warm_slots(4);
    wasmpool::Engine engine(pool);
    CHECK(engine.is_pooling());
    wasmpool::Module module(engine, WAT);
    CHECK(module.exports().size() == 4);

    // Host functions are lambdas; the captured state lives as long as the linker needs it.
    struct Counter {
      std::atomic<int> *finalized = nullptr;
      ~Counter() {
        if (finalized) (*finalized)++;
      }
    };
    auto counter = std::make_shared<Counter>();
    counter->finalized = &finalized;
    wasmpool::Linker linker(engine);
    linker.func("host", "log", {WASMPOOL_I32, WASMPOOL_I32}, {WASMPOOL_I32},
                [&logged, counter](wasmpool::Caller caller, const wasmpool_val_t *args, wasmpool_val_t *results) {
                  wasmpool::Memory memory = caller.memory();
                  std::string text(reinterpret_cast<const char *>(memory.data()) + args[0].of.i32,
                                   static_cast<size_t>(args[1].of.i32));
                  if (text != "cycle") throw wasmpool::Trap("unexpected text: " + text);
                  logged++;
                  results[0].of.i32 = static_cast<int32_t>(text.size());
                });
    counter.reset();
    linker.func("host", "fail", {WASMPOOL_I32}, {},
                [](wasmpool::Caller, const wasmpool_val_t *args, wasmpool_val_t *) {
                  if (args[0].of.i32 == 1) throw wasmpool::Trap("failed on purpose");
                  if (args[0].of.i32 == 2) throw std::runtime_error("a C++ exception");
                });
    wasmpool::InstancePre pre = linker.instantiate_pre(module);

    // Cycles: every instance is pristine though the previous one dirtied its slot.
    long cycles = iterations(2000);
    for (long i = 0; i < cycles; i++) {
      wasmpool::Store store(engine);
      wasmpool::Instance instance = (i % 2) ? pre.instantiate(store) : store.instantiate(module, &linker);
      auto results = instance.func("run").call({i32(static_cast<int32_t>(i))});
      if (results.size() != 1 || results[0].kind != WASMPOOL_I64 || results[0].of.i64 != 5) {
        std::fprintf(stderr, "cycle %ld: run() saw a dirty instance\n", i);
        return 1;
      }
      CHECK(instance.global("g").get().of.i64 == i);
      CHECK(instance.memory().data()[100] == 1);
    }
    CHECK(logged == cycles);

    // Traps and errors as exceptions.
    wasmpool::Store store(engine);
    wasmpool::Instance instance = pre.instantiate(store);
    try {
      instance.func("fail").call({i32(1)});
      CHECK(!"no trap");
    } catch (const wasmpool::Trap &t) {
      CHECK(t.code() == WASMPOOL_TRAP_HOST);
      // The host's message, then the backtrace of the wasm that called the host.
      CHECK(std::string(t.what()).rfind("failed on purpose\nwasm backtrace:\n", 0) == 0);
    }
    try {
      instance.func("fail").call({i32(2)});
      CHECK(!"no trap");
    } catch (const wasmpool::Trap &t) {
      CHECK(std::string(t.what()).rfind("a C++ exception\nwasm backtrace:\n", 0) == 0);
    }
    instance.func("fail").call({i32(0)});
    try {
      instance.func("run").call({});
      CHECK(!"no error");
    } catch (const wasmpool::Error &e) {
      CHECK(e.kind() == WASMPOOL_ERROR_INVALID_ARGUMENT);
    }
    try {
      instance.func("nope");
      CHECK(!"no error");
    } catch (const wasmpool::Error &e) {
      CHECK(e.kind() == WASMPOOL_ERROR_INVALID_ARGUMENT);
    }
    try {
      wasmpool::Module bad(engine, "(module (func (result i32)))");
      CHECK(!"no error");
    } catch (const wasmpool::Error &e) {
      CHECK(e.kind() == WASMPOOL_ERROR_INVALID_MODULE);
    }

    auto metrics = engine.pool_metrics();
    CHECK(metrics.has_value() && metrics->core_instances == 1);
    CHECK(finalized == 0);
  }
  // The linker, the pre and every store are gone: the lambda's captures are destroyed.
  CHECK(finalized == 1);

  // v128 values through the wrapper: a host function and a call.
  {
    using wasmpool::val::i32x4_lane;
    using wasmpool::val::v128_i32x4;
    wasmpool::Engine engine;
    wasmpool::Module module(engine, R"((module
      (import "host" "twice" (func $twice (param v128) (result v128)))
      (func (export "f") (param v128) (result v128)
        (i32x4.add (call $twice (local.get 0)) (v128.const i32x4 1 1 1 1)))))");
    wasmpool::Linker linker(engine);
    linker.func("host", "twice", {WASMPOOL_V128}, {WASMPOOL_V128},
                [](wasmpool::Caller, const wasmpool_val_t *args, wasmpool_val_t *results) {
                  const auto &a = args[0];
                  results[0] = v128_i32x4(2 * i32x4_lane(a, 0), 2 * i32x4_lane(a, 1), 2 * i32x4_lane(a, 2),
                                          2 * i32x4_lane(a, 3));
                });
    wasmpool::Store store(engine);
    auto r = store.instantiate(module, &linker).func("f").call({v128_i32x4(1, -2, 300, 0)});
    CHECK(r.size() == 1 && r[0].kind == WASMPOOL_V128);
    CHECK(i32x4_lane(r[0], 0) == 3 && i32x4_lane(r[0], 1) == -3 && i32x4_lane(r[0], 2) == 601 &&
          i32x4_lane(r[0], 3) == 1);
    std::array<uint8_t, 16> bytes{};
    bytes[0] = 7;
    CHECK(wasmpool::val::v128(bytes).of.v128[0] == 7);
  }

  // Fuel through the wrapper.
  wasmpool::Config config;
  config.consume_fuel(true);
  wasmpool::Engine engine(&config);
  wasmpool::Module spin(engine, "(module (func (export \"spin\") (loop (br 0))))");
  wasmpool::Store store(engine);
  store.set_fuel(5000);
  try {
    store.instantiate(spin).func("spin").call({});
    CHECK(!"no trap");
  } catch (const wasmpool::Trap &t) {
    CHECK(t.code() == WASMPOOL_TRAP_OUT_OF_FUEL);
  }
  CHECK(store.fuel() == 0);

  if (failures) {
    std::fprintf(stderr, "test_cxx: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("test_cxx: all checks passed\n");
  return 0;
}
