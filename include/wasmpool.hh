// libwasmpool for C++17: header-only RAII wrappers over the C API in wasmpool.h.
//
// Owning classes (Config, PoolConfig, Engine, Module, Linker, InstancePre, Store) free
// their C object in the destructor and are move-only. Instance, Func, Memory, Global and
// Table are borrowed handles: cheap to copy, valid while their Store lives.
//
// Errors are thrown as wasmpool::Error (with the WASMPOOL_ERROR_* kind) and traps as
// wasmpool::Trap (with the WASMPOOL_TRAP_* code). Host functions are lambdas; a lambda
// throwing wasmpool::Trap (or any std::exception) traps the calling wasm with its message.
//
//   wasmpool::Engine engine;
//   wasmpool::Module module(engine, "(module (func (export \"f\") (result i32) i32.const 7))");
//   wasmpool::Store store(engine);
//   wasmpool::Instance instance = store.instantiate(module);
//   int32_t seven = instance.func("f").call({})[0].of.i32;
#ifndef WASMPOOL_HH
#define WASMPOOL_HH

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wasmpool.h"

namespace wasmpool {

/// A failed call: the WASMPOOL_ERROR_* kind and the library's message.
class Error : public std::runtime_error {
 public:
  Error(wasmpool_error_kind_t kind, const std::string &message) : std::runtime_error(message), kind_(kind) {}
  wasmpool_error_kind_t kind() const noexcept { return kind_; }

 private:
  wasmpool_error_kind_t kind_;
};

/// A trap: the WASMPOOL_TRAP_* code and message. Throw one from a host function to trap.
class Trap : public std::runtime_error {
 public:
  explicit Trap(const std::string &message, wasmpool_trap_code_t code = WASMPOOL_TRAP_HOST)
      : std::runtime_error(message), code_(code) {}
  wasmpool_trap_code_t code() const noexcept { return code_; }

 private:
  wasmpool_trap_code_t code_;
};

namespace detail {
/// Throws (and frees) `err` when it is not NULL.
inline void check(wasmpool_error_t *err) {
  if (err == nullptr) return;
  Error e(wasmpool_error_kind(err), wasmpool_error_message(err));
  wasmpool_error_delete(err);
  throw e;
}
/// Throws (and frees) `trap` when it is not NULL.
inline void check(wasmpool_trap_t *trap) {
  if (trap == nullptr) return;
  Trap t(wasmpool_trap_message(trap), wasmpool_trap_code(trap));
  wasmpool_trap_delete(trap);
  throw t;
}
template <typename T, void (*Delete)(T *)>
struct Deleter {
  void operator()(T *p) const noexcept { Delete(p); }
};
template <typename T, void (*Delete)(T *)>
using Owned = std::unique_ptr<T, Deleter<T, Delete>>;
}  // namespace detail

/// Values: wasmpool_val_t with constructors.
namespace val {
inline wasmpool_val_t make(wasmpool_valkind_t kind) {
  wasmpool_val_t v;
  std::memset(&v, 0, sizeof v);
  v.kind = kind;
  return v;
}
inline wasmpool_val_t i32(int32_t x) { auto v = make(WASMPOOL_I32); v.of.i32 = x; return v; }
inline wasmpool_val_t i64(int64_t x) { auto v = make(WASMPOOL_I64); v.of.i64 = x; return v; }
inline wasmpool_val_t f32(float x) { auto v = make(WASMPOOL_F32); v.of.f32 = x; return v; }
inline wasmpool_val_t f64(double x) { auto v = make(WASMPOOL_F64); v.of.f64 = x; return v; }
inline wasmpool_val_t externref(void *p) { auto v = make(WASMPOOL_EXTERNREF); v.of.ref = p; return v; }
/// A v128 from its 16 bytes, least significant first (byte 0 is lane 0 of an i8x16).
inline wasmpool_val_t v128(const std::array<uint8_t, 16> &bytes) {
  auto v = make(WASMPOOL_V128);
  std::memcpy(v.of.v128, bytes.data(), bytes.size());
  return v;
}
/// A v128 from four i32 lanes (lane 0 first).
inline wasmpool_val_t v128_i32x4(int32_t a, int32_t b, int32_t c, int32_t d) {
  auto v = make(WASMPOOL_V128);
  const int32_t lanes[4] = {a, b, c, d};
  for (int i = 0; i < 4; i++) {
    const uint32_t x = static_cast<uint32_t>(lanes[i]);
    for (int j = 0; j < 4; j++) v.of.v128[i * 4 + j] = static_cast<uint8_t>(x >> (8 * j));
  }
  return v;
}
/// Lane `i` (0 to 3) of a v128 read as i32x4.
inline int32_t i32x4_lane(const wasmpool_val_t &v, int i) {
  uint32_t x = 0;
  for (int j = 0; j < 4; j++) x |= static_cast<uint32_t>(v.of.v128[i * 4 + j]) << (8 * j);
  return static_cast<int32_t>(x);
}
}  // namespace val

/// WebAssembly text to binary.
inline std::vector<uint8_t> wat2wasm(std::string_view wat) {
  uint8_t *bytes = nullptr;
  size_t len = 0;
  detail::check(wasmpool_wat2wasm(wat.data(), wat.size(), &bytes, &len));
  std::vector<uint8_t> out(bytes, bytes + len);
  wasmpool_bytes_delete(bytes, len);
  return out;
}

class Config {
 public:
  Config() : raw_(wasmpool_config_new()) {}
  Config &consume_fuel(bool on) { wasmpool_config_set_consume_fuel(raw(), on); return *this; }
  Config &epoch_interruption(bool on) { wasmpool_config_set_epoch_interruption(raw(), on); return *this; }
  Config &max_wasm_stack(size_t bytes) { wasmpool_config_set_max_wasm_stack(raw(), bytes); return *this; }
  Config &memory_reservation(uint64_t bytes) { wasmpool_config_set_memory_reservation(raw(), bytes); return *this; }
  Config &memory_guard_size(uint64_t bytes) { wasmpool_config_set_memory_guard_size(raw(), bytes); return *this; }
  Config &memory_init_cow(bool on) { wasmpool_config_set_memory_init_cow(raw(), on); return *this; }
  wasmpool_config_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_config_t, wasmpool_config_delete> raw_;
};

class PoolConfig {
 public:
  PoolConfig() : raw_(wasmpool_pool_config_new()) {}
  /// Sets total_core_instances, total_memories and total_tables at once.
  PoolConfig &slots(uint32_t n) {
    wasmpool_pool_config_set_total_core_instances(raw(), n);
    wasmpool_pool_config_set_total_memories(raw(), n);
    wasmpool_pool_config_set_total_tables(raw(), n);
    return *this;
  }
  PoolConfig &max_memory_size(size_t bytes) { wasmpool_pool_config_set_max_memory_size(raw(), bytes); return *this; }
  PoolConfig &table_elements(size_t n) { wasmpool_pool_config_set_table_elements(raw(), n); return *this; }
  PoolConfig &max_unused_warm_slots(uint32_t n) { wasmpool_pool_config_set_max_unused_warm_slots(raw(), n); return *this; }
  PoolConfig &linear_memory_keep_resident(size_t b) { wasmpool_pool_config_set_linear_memory_keep_resident(raw(), b); return *this; }
  PoolConfig &table_keep_resident(size_t b) { wasmpool_pool_config_set_table_keep_resident(raw(), b); return *this; }
  PoolConfig &decommit_batch_size(size_t n) { wasmpool_pool_config_set_decommit_batch_size(raw(), n); return *this; }
  wasmpool_pool_config_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_pool_config_t, wasmpool_pool_config_delete> raw_;
};

/// An engine; shareable across threads (share it by reference).
class Engine {
 public:
  /// An on-demand engine.
  explicit Engine(const Config *config = nullptr) {
    wasmpool_engine_t *e = nullptr;
    detail::check(wasmpool_engine_new(config ? config->raw() : nullptr, &e));
    raw_.reset(e);
  }
  /// A pooling engine.
  explicit Engine(const PoolConfig &pool, const Config *config = nullptr) {
    wasmpool_engine_t *e = nullptr;
    detail::check(wasmpool_engine_new_with_pooling(config ? config->raw() : nullptr, pool.raw(), &e));
    raw_.reset(e);
  }
  bool is_pooling() const noexcept { return wasmpool_engine_is_pooling(raw()); }
  std::optional<wasmpool_pool_metrics_t> pool_metrics() const noexcept {
    wasmpool_pool_metrics_t m;
    if (!wasmpool_engine_pool_metrics(raw(), &m)) return std::nullopt;
    return m;
  }
  void increment_epoch() const noexcept { wasmpool_engine_increment_epoch(raw()); }
  wasmpool_engine_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_engine_t, wasmpool_engine_delete> raw_;
};

/// A compiled module; shareable across threads.
class Module {
 public:
  /// Compiles WebAssembly text (or binary, when `source` starts with "\0asm").
  Module(const Engine &engine, std::string_view source) {
    std::vector<uint8_t> bin;
    if (source.size() < 4 || std::memcmp(source.data(), "\0asm", 4) != 0) bin = wat2wasm(source);
    else bin.assign(source.begin(), source.end());
    wasmpool_module_t *m = nullptr;
    detail::check(wasmpool_module_new(engine.raw(), bin.data(), bin.size(), &m));
    raw_.reset(m);
  }
  struct Export {
    std::string name;
    wasmpool_externkind_t kind;
  };
  std::vector<Export> exports() const {
    std::vector<Export> out;
    for (size_t i = 0; i < wasmpool_module_exports_len(raw()); i++) {
      const char *name = nullptr;
      wasmpool_externkind_t kind = 0;
      detail::check(wasmpool_module_export_get(raw(), i, &name, &kind));
      out.push_back({name, kind});
    }
    return out;
  }
  wasmpool_module_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_module_t, wasmpool_module_delete> raw_;
};

class Memory {
 public:
  explicit Memory(wasmpool_memory_t *raw) : raw_(raw) {}
  uint8_t *data() const noexcept { return wasmpool_memory_data(raw_); }
  size_t size() const noexcept { return wasmpool_memory_data_size(raw_); }
  /// Grows by `pages`; returns the previous size in pages.
  uint64_t grow(uint64_t pages) const {
    uint64_t prev = 0;
    detail::check(wasmpool_memory_grow(raw_, pages, &prev));
    return prev;
  }
  wasmpool_memory_t *raw() const noexcept { return raw_; }

 private:
  wasmpool_memory_t *raw_;
};

class Global {
 public:
  explicit Global(wasmpool_global_t *raw) : raw_(raw) {}
  wasmpool_val_t get() const noexcept {
    wasmpool_val_t v = val::make(0);
    wasmpool_global_get(raw_, &v);
    return v;
  }
  void set(const wasmpool_val_t &v) const { detail::check(wasmpool_global_set(raw_, &v)); }
  wasmpool_global_t *raw() const noexcept { return raw_; }

 private:
  wasmpool_global_t *raw_;
};

/// What a host function sees of its caller.
class Caller {
 public:
  explicit Caller(wasmpool_caller_t *raw) : raw_(raw) {}
  Memory memory(const char *name = "memory") const {
    wasmpool_memory_t *m = nullptr;
    detail::check(wasmpool_caller_get_memory(raw_, name, &m));
    return Memory(m);
  }
  void *data() const noexcept { return wasmpool_caller_data(raw_); }

 private:
  wasmpool_caller_t *raw_;
};

/// A host function: reads `args`, writes `results` (kinds are preset), or throws to trap.
using HostFunc = std::function<void(Caller caller, const wasmpool_val_t *args, wasmpool_val_t *results)>;

namespace detail {
inline wasmpool_trap_t *host_trampoline(void *env, wasmpool_caller_t *caller, const wasmpool_val_t *args, size_t,
                                        wasmpool_val_t *results, size_t) {
  try {
    (*static_cast<HostFunc *>(env))(Caller(caller), args, results);
    return nullptr;
  } catch (const std::exception &e) {
    return wasmpool_trap_new(e.what());
  } catch (...) {
    return wasmpool_trap_new("host function threw a C++ exception");
  }
}
inline void host_finalizer(void *env) { delete static_cast<HostFunc *>(env); }
}  // namespace detail

class Store;

/// A function of a store; call it with values, get its results or a thrown Trap.
class Func {
 public:
  Func(wasmpool_store_t *store, wasmpool_func_t *raw) : store_(store), raw_(raw) {}
  std::vector<wasmpool_val_t> call(std::initializer_list<wasmpool_val_t> args) const {
    return call(std::vector<wasmpool_val_t>(args));
  }
  std::vector<wasmpool_val_t> call(const std::vector<wasmpool_val_t> &args) const {
    size_t nresults = 0;
    wasmpool_functype_results(wasmpool_func_type(raw_), &nresults);
    std::vector<wasmpool_val_t> results(nresults, val::make(0));
    wasmpool_trap_t *trap = nullptr;
    detail::check(wasmpool_func_call(store_, raw_, args.data(), args.size(), results.data(), results.size(), &trap));
    detail::check(trap);
    return results;
  }
  wasmpool_func_t *raw() const noexcept { return raw_; }

 private:
  wasmpool_store_t *store_;
  wasmpool_func_t *raw_;
};

class Instance {
 public:
  Instance(wasmpool_store_t *store, wasmpool_instance_t *raw) : store_(store), raw_(raw) {}
  Func func(const char *name) const {
    wasmpool_func_t *f = nullptr;
    detail::check(wasmpool_instance_get_func(raw_, name, &f));
    return Func(store_, f);
  }
  Memory memory(const char *name = "memory") const {
    wasmpool_memory_t *m = nullptr;
    detail::check(wasmpool_instance_get_memory(raw_, name, &m));
    return Memory(m);
  }
  Global global(const char *name) const {
    wasmpool_global_t *g = nullptr;
    detail::check(wasmpool_instance_get_global(raw_, name, &g));
    return Global(g);
  }
  wasmpool_instance_t *raw() const noexcept { return raw_; }

 private:
  wasmpool_store_t *store_;
  wasmpool_instance_t *raw_;
};

class Linker;

/// A module linked once, instantiated many times (from several threads if wanted).
class InstancePre {
 public:
  explicit InstancePre(wasmpool_instance_pre_t *raw) : raw_(raw) {}
  inline Instance instantiate(Store &store) const;
  wasmpool_instance_pre_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_instance_pre_t, wasmpool_instance_pre_delete> raw_;
};

class Linker {
 public:
  explicit Linker(const Engine &engine) : raw_(wasmpool_linker_new(engine.raw())) {}
  /// Defines module::name as a host function (a lambda; see HostFunc).
  Linker &func(const char *module, const char *name, std::vector<wasmpool_valkind_t> params,
               std::vector<wasmpool_valkind_t> results, HostFunc f) {
    auto *env = new HostFunc(std::move(f));
    wasmpool_error_t *err =
        wasmpool_linker_define_func(raw(), module, name, params.data(), params.size(), results.data(), results.size(),
                                    detail::host_trampoline, env, detail::host_finalizer);
    if (err != nullptr) delete env;  // on error the linker took nothing
    detail::check(err);
    return *this;
  }
  InstancePre instantiate_pre(const Module &module) const {
    wasmpool_instance_pre_t *pre = nullptr;
    detail::check(wasmpool_linker_instantiate_pre(raw(), module.raw(), &pre));
    return InstancePre(pre);
  }
  wasmpool_linker_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_linker_t, wasmpool_linker_delete> raw_;
};

/// A store: instances and their memories; one thread at a time.
class Store {
 public:
  explicit Store(const Engine &engine, void *data = nullptr, void (*finalizer)(void *) = nullptr)
      : raw_(wasmpool_store_new(engine.raw(), data, finalizer)) {
    if (!raw_) throw Error(WASMPOOL_ERROR_INVALID_ARGUMENT, "wasmpool_store_new failed");
  }
  /// Instantiates `module`, resolving imports with `linker` (nullptr: no imports).
  Instance instantiate(const Module &module, const Linker *linker = nullptr) {
    wasmpool_instance_t *i = nullptr;
    wasmpool_trap_t *trap = nullptr;
    detail::check(wasmpool_instance_new(raw(), module.raw(), linker ? linker->raw() : nullptr, &i, &trap));
    detail::check(trap);
    return Instance(raw(), i);
  }
  void set_fuel(uint64_t fuel) { detail::check(wasmpool_store_set_fuel(raw(), fuel)); }
  uint64_t fuel() const {
    uint64_t f = 0;
    detail::check(wasmpool_store_get_fuel(raw(), &f));
    return f;
  }
  void set_epoch_deadline(uint64_t ticks) { wasmpool_store_set_epoch_deadline(raw(), ticks); }
  void *data() const noexcept { return wasmpool_store_data(raw()); }
  wasmpool_store_t *raw() const noexcept { return raw_.get(); }

 private:
  detail::Owned<wasmpool_store_t, wasmpool_store_delete> raw_;
};

inline Instance InstancePre::instantiate(Store &store) const {
  wasmpool_instance_t *i = nullptr;
  wasmpool_trap_t *trap = nullptr;
  detail::check(wasmpool_instance_pre_instantiate(raw(), store.raw(), &i, &trap));
  detail::check(trap);
  return Instance(store.raw(), i);
}

}  // namespace wasmpool

#endif
