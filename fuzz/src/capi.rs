//! The `capi` target: random sequences of C API calls, made through the Rust
//! `extern "C"` functions of `wasmpool::capi`, with valid, NULL,
//! stale-but-not-freed (a handle of another, live store; a module or linker of
//! another engine) and wrong-kind arguments (a value of another kind or an
//! unknown kind byte, an export name of another kind, an index past the end).
//! Every call must return exactly its documented error kind or result; none
//! may crash, and a caught panic (`WASMPOOL_ERROR_INTERNAL`) fails the target.
//!
//! Two engines take part: on demand with fuel, and a tiny pool (so
//! `POOL_EXHAUSTED` is reached). Each has a linker that defines the host
//! function the test module imports; the callback traps on 13.

#![allow(clippy::missing_safety_doc)]

use arbitrary::Unstructured;
use std::ffi::{CStr, c_char, c_void};
use std::ptr::{null, null_mut};
use wasmpool::capi::artifacts::*;
use wasmpool::capi::config::*;
use wasmpool::capi::diagnostics::*;
use wasmpool::capi::engine::*;
use wasmpool::capi::error::*;
use wasmpool::capi::func::*;
use wasmpool::capi::global::*;
use wasmpool::capi::instance::*;
use wasmpool::capi::linker::*;
use wasmpool::capi::memory::*;
use wasmpool::capi::module::*;
use wasmpool::capi::pool_config::*;
use wasmpool::capi::store::*;
use wasmpool::capi::table::*;
use wasmpool::capi::trap::*;
use wasmpool::capi::types::*;
use wasmpool::capi::values::*;

/// A module with an import and an export of every kind.
const WITH_IMPORT: &str = r#"(module
  (import "host" "f" (func $f (param i32) (result i32)))
  (memory (export "mem") 1 3)
  (global (export "g") (mut i32) (i32.const 7))
  (global (export "c") f64 (f64.const 1.5))
  (table (export "t") 2 4 funcref)
  (elem (i32.const 0) $add)
  (func $add (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "call_host") (param i32) (result i32) local.get 0 call $f)
  (func (export "trap") unreachable)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "id") (param funcref) (result funcref) local.get 0))"#;

/// A module without imports (instantiable with a NULL linker).
const NO_IMPORT: &str = r#"(module
  (memory (export "mem") 1)
  (global (export "g") (mut i64) (i64.const 0))
  (table (export "t") 1 externref)
  (func (export "run") (result i32) i32.const 42))"#;

/// Export names to ask for: every kind, plus an unknown one.
const NAMES: [&CStr; 10] =
    [c"mem", c"g", c"c", c"t", c"add", c"call_host", c"trap", c"load", c"id", c"nope"];

/// A store and the handles obtained from it.
struct StoreRec {
    engine: usize,
    ptr: *mut wasmpool_store_t,
    instances: Vec<*mut wasmpool_instance_t>,
    funcs: Vec<*mut wasmpool_func_t>,
    memories: Vec<*mut wasmpool_memory_t>,
    globals: Vec<*mut wasmpool_global_t>,
    tables: Vec<*mut wasmpool_table_t>,
}

/// Everything one input created, freed at the end.
struct World {
    engines: Vec<*mut wasmpool_engine_t>,
    /// (engine, module, has imports)
    modules: Vec<(usize, *mut wasmpool_module_t, bool)>,
    /// One per engine, defining "host" "f".
    linkers: Vec<*mut wasmpool_linker_t>,
    stores: Vec<StoreRec>,
    calls: u64,
    stats: Stats,
}

/// What one input did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// C API calls made and checked.
    pub calls: u64,
    /// Traps whose backtrace was checked.
    pub backtraces: u64,
    /// Precompiled bytes loaded back (intact, on their own engine).
    pub loaded: u64,
    /// Precompiled bytes refused (changed, or for the other engine).
    pub refused: u64,
}

/// How a pointer argument is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    Valid,
    Null,
    /// A live handle of the same kind from another store or engine.
    Foreign,
}

fn arg(u: &mut Unstructured<'_>) -> Arg {
    match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 => Arg::Null,
        1 => Arg::Foreign,
        _ => Arg::Valid,
    }
}

/// Frees `err` and returns its kind (0 for success); an internal error (a
/// caught panic) fails the target.
fn kind_of(err: *mut wasmpool_error_t, what: &str) -> u8 {
    if err.is_null() {
        return 0;
    }
    let kind = wasmpool_error_kind(err);
    let msg = wasmpool_error_message(err);
    assert!(!msg.is_null(), "{what}: an error without a message");
    // SAFETY: a non-NULL message is a NUL-terminated string owned by `err`.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned();
    wasmpool_error_delete(err);
    assert_ne!(kind, WASMPOOL_ERROR_INTERNAL, "{what}: internal error: {text}");
    kind
}

/// Asserts the outcome of a call: `expected` when some argument was bad,
/// otherwise one of `ok` (0 meaning success).
fn expect(what: &str, got: u8, bad: bool, expected: u8, ok: &[u8]) {
    if bad {
        assert_eq!(got, expected, "{what}: a bad argument gave kind {got}, not {expected}");
    } else {
        assert!(ok.contains(&got), "{what}: valid arguments gave kind {got}, expected {ok:?}");
    }
}

/// The host function: returns its argument plus one, or traps on 13.
unsafe extern "C" fn host_f(
    _env: *mut c_void,
    _caller: *mut wasmpool_caller_t,
    args: *const wasmpool_val_t,
    nargs: usize,
    results: *mut wasmpool_val_t,
    nresults: usize,
) -> *mut wasmpool_trap_t {
    assert_eq!((nargs, nresults), (1, 1));
    // SAFETY: the runtime passes one argument and room for one result, both
    // of kind i32, as the signature says.
    unsafe {
        let x = (*args).of.i32;
        if x == 13 {
            return wasmpool_trap_new(c"thirteen".as_ptr());
        }
        (*results).of.i32 = x.wrapping_add(1);
    }
    null_mut()
}

/// Checks the backtrace of a trap `wasmpool_func_call` returned: it crossed
/// wasm, so it has between 1 and 64 frames, each with an offset inside the
/// module and a function of the module; a frame past the end reads as
/// nothing.
fn check_frames(trap: *const wasmpool_trap_t) {
    let n = wasmpool_trap_frames_len(trap);
    assert!((1..=64).contains(&n), "{n} frames");
    for i in 0..n {
        assert!(wasmpool_trap_frame_func_index(trap, i) < 6, "frame {i}: function index");
        let offset = wasmpool_trap_frame_module_offset(trap, i);
        assert!((8..4096).contains(&offset), "frame {i}: module offset {offset}");
    }
    for past in [n, n + 1, usize::MAX] {
        assert_eq!(wasmpool_trap_frame_func_index(trap, past), 0);
        assert!(wasmpool_trap_frame_func_name(trap, past).is_null());
        assert_eq!(wasmpool_trap_frame_module_offset(trap, past), 0);
    }
    assert_eq!(wasmpool_trap_frames_len(null()), 0);
    assert!(wasmpool_trap_frame_func_name(null(), 0).is_null());
}

fn wasm_of(wat: &str) -> Vec<u8> {
    let mut bytes = null_mut();
    let mut len = 0;
    let err = wasmpool_wat2wasm(wat.as_ptr().cast(), wat.len(), &mut bytes, &mut len);
    assert_eq!(kind_of(err, "wat2wasm"), 0);
    // SAFETY: on success `bytes` holds `len` bytes, freed right after copying.
    let out = unsafe { std::slice::from_raw_parts(bytes, len) }.to_vec();
    wasmpool_bytes_delete(bytes, len);
    out
}

/// The engines, modules and linkers every input shares (made through the C
/// API once per process and never freed: making them per input would cost
/// most of the time). Held as addresses so they can sit in a static.
struct Shared {
    engines: Vec<usize>,
    modules: Vec<(usize, usize, bool)>,
    linkers: Vec<usize>,
}

fn shared() -> &'static Shared {
    static SHARED: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let config = wasmpool_config_new();
        wasmpool_config_set_consume_fuel(config, true);
        wasmpool_config_set_parallel_compilation(config, false);
        let mut on_demand = null_mut();
        assert_eq!(kind_of(wasmpool_engine_new(config, &mut on_demand), "engine_new"), 0);
        wasmpool_config_set_consume_fuel(config, false);
        wasmpool_config_set_memory_reservation(config, 1 << 20);
        wasmpool_config_set_memory_guard_size(config, 65536);
        let pool = wasmpool_pool_config_new();
        wasmpool_pool_config_set_total_core_instances(pool, 2);
        wasmpool_pool_config_set_total_memories(pool, 2);
        wasmpool_pool_config_set_total_tables(pool, 2);
        wasmpool_pool_config_set_max_memory_size(pool, 4 << 16);
        wasmpool_pool_config_set_table_elements(pool, 16);
        let mut pooled = null_mut();
        let err = wasmpool_engine_new_with_pooling(config, pool, &mut pooled);
        assert_eq!(kind_of(err, "engine_new_with_pooling"), 0);
        wasmpool_pool_config_delete(pool);
        wasmpool_config_delete(config);
        let engines = [on_demand, pooled];
        let mut modules = Vec::new();
        let mut linkers = Vec::new();
        let (with_import, no_import) = (wasm_of(WITH_IMPORT), wasm_of(NO_IMPORT));
        for (e, &engine) in engines.iter().enumerate() {
            for (wasm, imports) in [(&with_import, true), (&no_import, false)] {
                let mut m = null_mut();
                let err = wasmpool_module_new(engine, wasm.as_ptr(), wasm.len(), &mut m);
                assert_eq!(kind_of(err, "module_new"), 0);
                modules.push((e, m as usize, imports));
            }
            let linker = wasmpool_linker_new(engine);
            let i32k = [WASMPOOL_I32];
            let err = wasmpool_linker_define_func(
                linker,
                c"host".as_ptr(),
                c"f".as_ptr(),
                i32k.as_ptr(),
                1,
                i32k.as_ptr(),
                1,
                Some(host_f),
                null_mut(),
                None,
            );
            assert_eq!(kind_of(err, "linker_define_func"), 0);
            linkers.push(linker as usize);
        }
        Shared { engines: engines.iter().map(|&e| e as usize).collect(), modules, linkers }
    })
}

impl World {
    fn new() -> World {
        let s = shared();
        World {
            engines: s.engines.iter().map(|&e| e as *mut wasmpool_engine_t).collect(),
            modules: s
                .modules
                .iter()
                .map(|&(e, m, i)| (e, m as *mut wasmpool_module_t, i))
                .collect(),
            linkers: s.linkers.iter().map(|&l| l as *mut wasmpool_linker_t).collect(),
            stores: Vec::new(),
            calls: 0,
            stats: Stats::default(),
        }
    }

    /// A store other than `s` (for foreign handles), if there is one.
    fn other_store(&self, s: usize) -> Option<usize> {
        (0..self.stores.len()).find(|&o| o != s)
    }

    /// A handle of `pick`'s kind from store `s`, as `how` says (NULL when
    /// there is none to pick from), with the index of the store it came from.
    fn handle<T>(
        &self,
        u: &mut Unstructured<'_>,
        s: usize,
        how: Arg,
        pick: fn(&StoreRec) -> &Vec<*mut T>,
    ) -> (*mut T, usize) {
        let from = match how {
            Arg::Null => return (null_mut(), s),
            Arg::Valid => s,
            Arg::Foreign => match self.other_store(s) {
                Some(o) => o,
                None => return (null_mut(), s),
            },
        };
        let list = pick(&self.stores[from]);
        (u.choose(list).copied().unwrap_or(null_mut()), from)
    }

    /// Runs one operation the input picks.
    fn step(&mut self, u: &mut Unstructured<'_>) {
        self.calls += 1;
        let op = u.int_in_range(0..=14u8).unwrap_or(0);
        if op == 0 || self.stores.is_empty() {
            return self.new_store(u);
        }
        let s = u.choose_index(self.stores.len()).unwrap_or(0);
        match op {
            1 => {
                if self.stores.len() > 1 {
                    let rec = self.stores.swap_remove(s);
                    wasmpool_store_delete(rec.ptr);
                }
            }
            2 | 3 => self.instantiate(u, s),
            4 => self.get_export(u, s),
            5 | 6 => self.call(u, s),
            7 => self.global(u, s),
            8 => self.memory(u, s),
            9 => self.table(u, s),
            10 => self.fuel(u, s),
            11 => self.module_queries(u),
            12 => self.pre(u, s),
            13 if u.ratio(1u8, 8).unwrap_or(false) => self.lifecycle(u),
            14 => self.precompiled(u),
            _ => self.misc(u),
        }
    }

    fn new_store(&mut self, u: &mut Unstructured<'_>) {
        if self.stores.len() >= 4 {
            return;
        }
        let no_engine = u.ratio(1u8, 8).unwrap_or(false);
        let engine = u.choose_index(2).unwrap_or(0);
        let ptr = wasmpool_store_new(
            if no_engine { null() } else { self.engines[engine] },
            null_mut(),
            None,
        );
        assert_eq!(ptr.is_null(), no_engine, "store_new returns NULL exactly for a NULL engine");
        if !no_engine {
            if u.ratio(1u8, 4).unwrap_or(false) {
                // Bounded growth and counts; -1 means unlimited.
                wasmpool_store_limiter(ptr, 2 << 16, 8, 2, 1, 1);
            }
            self.stores.push(StoreRec {
                engine,
                ptr,
                instances: Vec::new(),
                funcs: Vec::new(),
                memories: Vec::new(),
                globals: Vec::new(),
                tables: Vec::new(),
            });
        }
    }

    fn instantiate(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let rec = &self.stores[s];
        let e = rec.engine;
        let mi = u.choose_index(self.modules.len()).unwrap_or(0);
        let (me, module, imports) = self.modules[mi];
        let (store_arg, module_arg, linker_arg) = (arg(u), arg(u), arg(u));
        let null_out = u.ratio(1u8, 10).unwrap_or(false);
        let null_trap = u.ratio(1u8, 10).unwrap_or(false);
        let store = if store_arg == Arg::Null { null_mut() } else { rec.ptr };
        let module = if module_arg == Arg::Null { null() } else { module };
        let linker = match linker_arg {
            Arg::Null => null(),
            Arg::Valid => self.linkers[e].cast_const(),
            Arg::Foreign => self.linkers[1 - e].cast_const(),
        };
        let mut out = null_mut();
        let mut trap = null_mut();
        let err = wasmpool_instance_new(
            store,
            module,
            linker,
            if null_out { null_mut() } else { &mut out },
            if null_trap { null_mut() } else { &mut trap },
        );
        let kind = kind_of(err, "instance_new");
        let bad_null = store.is_null() || module.is_null() || null_out || null_trap;
        let foreign =
            !module.is_null() && me != e || !linker.is_null() && linker_arg == Arg::Foreign;
        let unlinked = imports && linker.is_null();
        if bad_null || foreign && !unlinked {
            assert_eq!(kind, WASMPOOL_ERROR_INVALID_ARGUMENT, "instance_new with bad arguments");
        } else if foreign {
            // Two faults at once: either may be reported.
            assert!([WASMPOOL_ERROR_INVALID_ARGUMENT, WASMPOOL_ERROR_LINK].contains(&kind));
        } else if unlinked {
            assert_eq!(kind, WASMPOOL_ERROR_LINK, "a module with imports and no linker");
        } else {
            let ok: &[u8] = if e == 1 { &[0, WASMPOOL_ERROR_POOL_EXHAUSTED] } else { &[0] };
            // The store's limiter may refuse the instance (one memory, one table).
            assert!(ok.contains(&kind) || kind == WASMPOOL_ERROR_LIMIT, "instance_new: {kind}");
        }
        if kind == 0 {
            assert!(trap.is_null(), "no start function: no trap");
            assert!(!out.is_null());
            self.stores[s].instances.push(out);
        } else if !trap.is_null() {
            panic!("an error and a trap at once");
        }
    }

    fn get_export(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let how = arg(u);
        let instance = self
            .handle(u, s, if how == Arg::Foreign { Arg::Valid } else { how }, |r| &r.instances)
            .0;
        let name = if u.ratio(1u8, 10).unwrap_or(false) {
            null()
        } else {
            u.choose(&NAMES).map_or(null(), |n| n.as_ptr())
        };
        let kind_byte = u.int_in_range(0..=3u8).unwrap_or(0);
        let null_out = u.ratio(1u8, 10).unwrap_or(false);
        macro_rules! get {
            ($f:ident, $list:ident, $ok:expr) => {{
                let mut out = null_mut();
                let err = $f(instance, name, if null_out { null_mut() } else { &mut out });
                let kind = kind_of(err, stringify!($f));
                let known = !name.is_null() && {
                    // SAFETY: NAMES are NUL-terminated literals.
                    let n = unsafe { CStr::from_ptr(name) }.to_bytes();
                    $ok(n)
                };
                let bad = instance.is_null() || name.is_null() || null_out || !known;
                expect(stringify!($f), kind, bad, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
                if kind == 0 {
                    assert!(!out.is_null());
                    let list = &mut self.stores[s].$list;
                    if !list.contains(&out) {
                        list.push(out);
                    }
                }
            }};
        }
        // Which names are of which kind in the two modules (NO_IMPORT's "g"
        // is a global too, its "t" a table, its "mem" a memory).
        match kind_byte {
            0 => get!(wasmpool_instance_get_func, funcs, |n: &[u8]| matches!(
                n,
                b"add" | b"call_host" | b"trap" | b"load" | b"id"
            ) && self
                .has_export(instance, n)),
            1 => get!(wasmpool_instance_get_memory, memories, |n: &[u8]| n == b"mem"),
            2 => get!(wasmpool_instance_get_global, globals, |n: &[u8]| (n == b"g" || n == b"c")
                && self.has_export(instance, n)),
            _ => get!(wasmpool_instance_get_table, tables, |n: &[u8]| n == b"t"),
        }
    }

    /// Whether `instance` (an instance of WITH_IMPORT or NO_IMPORT) exports
    /// `name`: NO_IMPORT has only "mem", "g", "t" and "run".
    fn has_export(&self, instance: *mut wasmpool_instance_t, name: &[u8]) -> bool {
        // Instances of NO_IMPORT have no "add"; tell them apart by asking.
        let mut out = null_mut();
        let err = wasmpool_instance_get_func(instance, c"add".as_ptr(), &mut out);
        let with_import = err.is_null();
        kind_of(err, "probe");
        with_import || matches!(name, b"mem" | b"g" | b"t" | b"run")
    }

    fn call(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let store_arg = arg(u);
        let func_arg = arg(u);
        let func = self.handle(u, s, func_arg, |r| &r.funcs).0;
        let store = if store_arg == Arg::Null { null_mut() } else { self.stores[s].ptr };
        // Arguments: usually what the signature says, sometimes not.
        let (mut params, mut nresults) = (Vec::new(), 0usize);
        if !func.is_null() {
            let ty = wasmpool_func_type(func);
            let (mut np, mut nr) = (0, 0);
            let p = wasmpool_functype_params(ty, &mut np);
            wasmpool_functype_results(ty, &mut nr);
            // SAFETY: the type owns `np` kinds at `p`.
            params = unsafe { std::slice::from_raw_parts(p, np) }.to_vec();
            nresults = nr;
        }
        let mut wrong = false;
        match u.int_in_range(0..=9u8).unwrap_or(0) {
            0 => {
                params.push(WASMPOOL_I32);
                wrong = true;
            }
            1 if !params.is_empty() => {
                // Every signature here starts with an i32 or a funcref.
                params[0] = *u.choose(&[WASMPOOL_I64, WASMPOOL_F32, 99]).unwrap_or(&99);
                wrong = true;
            }
            2 => {
                nresults += 1;
                wrong = true;
            }
            _ => {}
        }
        let mut foreign_ref = false;
        let args: Vec<wasmpool_val_t> = params
            .iter()
            .map(|&k| {
                let mut v = wasmpool_val_t { kind: k, of: wasmpool_val_union { v128: [0; 16] } };
                match k {
                    WASMPOOL_I32 => v.of.i32 = *u.choose(&[0, 4, 13, 65533, -1]).unwrap_or(&0),
                    WASMPOOL_FUNCREF => {
                        let how = arg(u);
                        let f = self.handle(u, s, how, |r| &r.funcs).0;
                        foreign_ref |= how == Arg::Foreign && !f.is_null();
                        v.of.r#ref = f.cast();
                    }
                    _ => {}
                }
                v
            })
            .collect();
        let null_args = !args.is_empty() && u.ratio(1u8, 10).unwrap_or(false);
        let null_trap = u.ratio(1u8, 10).unwrap_or(false);
        let mut results =
            vec![wasmpool_val_t { kind: 0, of: wasmpool_val_union { i64: 0 } }; nresults];
        let mut trap = null_mut();
        let err = wasmpool_func_call(
            store,
            func,
            if null_args { null() } else { args.as_ptr() },
            args.len(),
            results.as_mut_ptr(),
            results.len(),
            if null_trap { null_mut() } else { &mut trap },
        );
        let kind = kind_of(err, "func_call");
        let bad = store.is_null()
            || func.is_null()
            || func_arg == Arg::Foreign
            || wrong
            || foreign_ref
            || null_args
            || null_trap;
        expect("func_call", kind, bad, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        if !trap.is_null() {
            assert_eq!(kind, 0, "a trap comes only with success");
            let code = wasmpool_trap_code(trap);
            assert!(
                [
                    WASMPOOL_TRAP_UNREACHABLE,
                    WASMPOOL_TRAP_MEMORY_OUT_OF_BOUNDS,
                    WASMPOOL_TRAP_HOST,
                    WASMPOOL_TRAP_OUT_OF_FUEL
                ]
                .contains(&code),
                "unexpected trap code {code}"
            );
            assert!(!wasmpool_trap_message(trap).is_null());
            check_frames(trap);
            self.stats.backtraces += 1;
            wasmpool_trap_delete(trap);
        } else if kind == 0 && !results.is_empty() {
            assert!(results.iter().all(|r| r.kind <= WASMPOOL_EXTERNREF));
        }
    }

    fn global(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let how = arg(u);
        let g = self.handle(u, s, how, |r| &r.globals).0;
        let mut out = wasmpool_val_t { kind: 0, of: wasmpool_val_union { i64: 0 } };
        wasmpool_global_get(g, &mut out);
        let (kind, mutable) = (wasmpool_global_kind(g), wasmpool_global_is_mutable(g));
        if g.is_null() {
            assert_eq!(kind, 255, "a NULL global's kind");
            assert!(!mutable);
        } else {
            assert_eq!(out.kind, kind, "global_get writes the global's kind");
        }
        let value_kind = *u.choose(&[kind, kind, WASMPOOL_I32, WASMPOOL_F64, 42]).unwrap_or(&kind);
        let v = wasmpool_val_t { kind: value_kind, of: wasmpool_val_union { i64: 5 } };
        let null_value = u.ratio(1u8, 10).unwrap_or(false);
        let err = wasmpool_global_set(g, if null_value { null() } else { &v });
        let k = kind_of(err, "global_set");
        let bad = g.is_null() || null_value || !mutable || value_kind != kind;
        expect("global_set", k, bad, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
    }

    fn memory(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let how = arg(u);
        let m = self.handle(u, s, how, |r| &r.memories).0;
        let data = wasmpool_memory_data(m);
        let len = wasmpool_memory_data_size(m);
        let pages = wasmpool_memory_size(m);
        if m.is_null() {
            assert!(data.is_null() && len == 0 && pages == 0, "neutral values for NULL");
            let err = wasmpool_memory_grow(m, 1, null_mut());
            assert_eq!(kind_of(err, "memory_grow"), WASMPOOL_ERROR_INVALID_ARGUMENT);
            return;
        }
        assert_eq!(len as u64, pages * 65536);
        if len > 0 {
            // SAFETY: the memory's `len` bytes are valid until it grows.
            unsafe { *data.add(len - 1) = 0x5a };
        }
        let delta = *u.choose(&[0u64, 1, 2, 70000, u64::MAX]).unwrap_or(&0);
        let mut prev = u64::MAX;
        let err = wasmpool_memory_grow(m, delta, &mut prev);
        let k = kind_of(err, "memory_grow");
        if k == 0 {
            assert_eq!(prev, pages, "memory_grow reports the previous size");
            assert_eq!(wasmpool_memory_size(m), pages + delta);
        } else {
            assert!([WASMPOOL_ERROR_RESOURCE, WASMPOOL_ERROR_LIMIT].contains(&k), "grow: {k}");
            assert!(delta > 0, "growing by 0 always succeeds");
            assert_eq!(prev, u64::MAX, "prev_pages written only on success");
            assert_eq!(wasmpool_memory_size(m), pages, "a failed growth changes nothing");
        }
    }

    fn table(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let how = arg(u);
        let (t, ts) = self.handle(u, s, how, |r| &r.tables);
        let size = wasmpool_table_size(t);
        let mut ty = wasmpool_tabletype_t { element: 0, min: 0, max: 0, has_max: false };
        let k = kind_of(wasmpool_table_type(t, &mut ty), "table_type");
        if t.is_null() {
            assert_eq!((size, k), (0, WASMPOOL_ERROR_INVALID_ARGUMENT));
        }
        let index = *u.choose(&[0, 1, size, u32::MAX]).unwrap_or(&0);
        let mut out = wasmpool_val_t { kind: 0, of: wasmpool_val_union { i64: 0 } };
        let k = kind_of(wasmpool_table_get(t, index, &mut out), "table_get");
        expect("table_get", k, t.is_null() || index >= size, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        // A value: a function of this store or another, NULL, or another kind.
        let fhow = arg(u);
        let (f, fs) = self.handle(u, s, fhow, |r| &r.funcs);
        let value_kind = *u.choose(&[ty.element, ty.element, WASMPOOL_I32, 77]).unwrap_or(&0);
        let mut v = wasmpool_val_t { kind: value_kind, of: wasmpool_val_union { i64: 0 } };
        v.of.r#ref = if value_kind == WASMPOOL_FUNCREF { f.cast() } else { null_mut() };
        let foreign = value_kind == WASMPOOL_FUNCREF && fs != ts && !f.is_null();
        let bad_value = t.is_null() || value_kind != ty.element || foreign;
        let k = kind_of(wasmpool_table_set(t, index, &v), "table_set");
        expect("table_set", k, bad_value || index >= size, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        let delta = *u.choose(&[0u32, 1, 3, u32::MAX]).unwrap_or(&0);
        let mut prev = u32::MAX;
        let k = kind_of(wasmpool_table_grow(t, delta, &v, &mut prev), "table_grow");
        if bad_value {
            assert_eq!(k, WASMPOOL_ERROR_INVALID_ARGUMENT, "table_grow with a bad value");
        } else if k == 0 {
            assert_eq!(prev, size);
            assert_eq!(wasmpool_table_size(t), size + delta);
        } else {
            assert!([WASMPOOL_ERROR_RESOURCE, WASMPOOL_ERROR_LIMIT].contains(&k), "grow: {k}");
            assert!(delta > 0, "growing by 0 always succeeds");
            assert_eq!((prev, wasmpool_table_size(t)), (u32::MAX, size));
        }
    }

    fn fuel(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let rec = &self.stores[s];
        let store = if u.ratio(1u8, 6).unwrap_or(false) { null_mut() } else { rec.ptr };
        let fuel_on = rec.engine == 0;
        let amount = *u.choose(&[0u64, 10, 1000, u64::MAX]).unwrap_or(&0);
        let k = kind_of(wasmpool_store_set_fuel(store, amount), "store_set_fuel");
        let mut left = 7;
        let k2 = kind_of(wasmpool_store_get_fuel(store, &mut left), "store_get_fuel");
        if store.is_null() {
            assert_eq!((k, k2), (WASMPOOL_ERROR_INVALID_ARGUMENT, WASMPOOL_ERROR_INVALID_ARGUMENT));
        } else if !fuel_on {
            assert_eq!((k, k2), (WASMPOOL_ERROR_UNSUPPORTED, WASMPOOL_ERROR_UNSUPPORTED));
            assert_eq!(left, 7, "out-parameters written only on success");
        } else {
            assert_eq!((k, k2), (0, 0));
            assert_eq!(left, amount, "every uint64_t amount of fuel is honoured, no clamp");
        }
        wasmpool_store_set_epoch_deadline(store, amount);
    }

    fn module_queries(&mut self, u: &mut Unstructured<'_>) {
        let (_, m, _) = *u.choose(&self.modules).expect("modules");
        let m = if u.ratio(1u8, 6).unwrap_or(false) { null_mut() } else { m };
        let (ni, ne) = (wasmpool_module_imports_len(m), wasmpool_module_exports_len(m));
        if m.is_null() {
            assert_eq!((ni, ne), (0, 0));
        }
        let index = *u.choose(&[0, ne.saturating_sub(1), ne, usize::MAX]).unwrap_or(&0);
        let mut name: *const c_char = null();
        let mut kind = 99;
        let k = kind_of(wasmpool_module_export_get(m, index, &mut name, &mut kind), "export_get");
        expect("module_export_get", k, index >= ne, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        let ty = wasmpool_module_export_type(m, index);
        assert_eq!(ty.is_null(), index >= ne, "export_type is NULL exactly out of range");
        if k == 0 {
            assert!(!name.is_null() && kind <= 3);
            assert_eq!(wasmpool_externtype_kind(ty), kind);
        }
        let index = *u.choose(&[0, ni, usize::MAX]).unwrap_or(&0);
        let (mut mname, mut iname): (*const c_char, *const c_char) = (null(), null());
        let k = kind_of(
            wasmpool_module_import_get(m, index, &mut mname, &mut iname, &mut kind),
            "import_get",
        );
        expect("module_import_get", k, index >= ni, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        assert_eq!(wasmpool_module_import_type(m, index).is_null(), index >= ni);
        // Garbage and truncated binaries.
        let len = u.int_in_range(0..=16usize).unwrap_or(0);
        let bytes: Vec<u8> = (0..len).map(|_| u.arbitrary().unwrap_or(0)).collect();
        let engine = self.engines[u.choose_index(2).unwrap_or(0)];
        let k = kind_of(wasmpool_module_validate(engine, bytes.as_ptr(), bytes.len()), "validate");
        assert_eq!(k, WASMPOOL_ERROR_INVALID_MODULE, "16 random bytes are not a module");
        let k = kind_of(wasmpool_module_validate(engine, null(), 8), "validate NULL");
        assert_eq!(k, WASMPOOL_ERROR_INVALID_ARGUMENT);
    }

    fn pre(&mut self, u: &mut Unstructured<'_>, s: usize) {
        let e = u.choose_index(2).unwrap_or(0);
        let mi = u.choose_index(self.modules.len()).unwrap_or(0);
        let (me, module, _) = self.modules[mi];
        let mut pre = null_mut();
        let k = kind_of(wasmpool_linker_instantiate_pre(self.linkers[e], module, &mut pre), "pre");
        expect("linker_instantiate_pre", k, me != e, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        if k != 0 {
            return;
        }
        let rec = &self.stores[s];
        let mut out = null_mut();
        let mut trap = null_mut();
        let k =
            kind_of(wasmpool_instance_pre_instantiate(pre, rec.ptr, &mut out, &mut trap), "pre");
        if rec.engine != e {
            assert_eq!(k, WASMPOOL_ERROR_INVALID_ARGUMENT, "a store of another engine");
        } else {
            let ok = [0, WASMPOOL_ERROR_POOL_EXHAUSTED, WASMPOOL_ERROR_LIMIT];
            assert!(ok.contains(&k), "instance_pre_instantiate: {k}");
        }
        assert!(trap.is_null());
        if k == 0 {
            self.stores[s].instances.push(out);
        }
        wasmpool_instance_pre_delete(pre);
    }

    /// Creates and frees an engine (from a NULL or a real configuration),
    /// a module and a linker, with NULL arguments along the way.
    /// `wasmpool_module_serialize` and `_deserialize` (`_file` with bad
    /// paths): intact bytes load on their own engine only (the two engines'
    /// settings differ: fuel, reservation), changed bytes never load.
    fn precompiled(&mut self, u: &mut Unstructured<'_>) {
        let mi = u.choose_index(self.modules.len()).unwrap_or(0);
        let (me, module, _) = self.modules[mi];
        let (null_module, null_bytes_out, null_len_out) = (
            u.ratio(1u8, 10).unwrap_or(false),
            u.ratio(1u8, 10).unwrap_or(false),
            u.ratio(1u8, 10).unwrap_or(false),
        );
        let (mut bytes, mut len) = (null_mut(), 0usize);
        let err = wasmpool_module_serialize(
            if null_module { null() } else { module },
            if null_bytes_out { null_mut() } else { &mut bytes },
            if null_len_out { null_mut() } else { &mut len },
        );
        let kind = kind_of(err, "module_serialize");
        let bad = null_module || null_bytes_out || null_len_out;
        expect("module_serialize", kind, bad, WASMPOOL_ERROR_INVALID_ARGUMENT, &[0]);
        if kind != 0 {
            assert!(bytes.is_null(), "module_serialize wrote bytes with an error");
            return;
        }
        // SAFETY: on success `bytes` holds `len` bytes, freed right after.
        let mut file = unsafe { std::slice::from_raw_parts(bytes, len) }.to_vec();
        wasmpool_bytes_delete(bytes, len);
        let changed = match u.int_in_range(0..=3u8).unwrap_or(0) {
            0 => {
                let at = u.choose_index(file.len()).unwrap_or(0);
                file.truncate(at);
                true
            }
            1 => {
                let at = u.choose_index(file.len()).unwrap_or(0);
                file[at] ^= 1 << u.int_in_range(0..=7u8).unwrap_or(0);
                true
            }
            _ => false,
        };
        let e = u.choose_index(2).unwrap_or(0);
        let (null_engine, null_out) =
            (u.ratio(1u8, 10).unwrap_or(false), u.ratio(1u8, 10).unwrap_or(false));
        let null_bytes = !file.is_empty() && u.ratio(1u8, 10).unwrap_or(false);
        let mut out = null_mut();
        let err = wasmpool_module_deserialize(
            if null_engine { null() } else { self.engines[e] },
            if null_bytes { null() } else { file.as_ptr() },
            file.len(),
            if null_out { null_mut() } else { &mut out },
        );
        let kind = kind_of(err, "module_deserialize");
        if null_engine || null_out || null_bytes {
            assert_eq!(kind, WASMPOOL_ERROR_INVALID_ARGUMENT, "module_deserialize, NULL");
        } else if changed || e != me {
            assert_eq!(kind, WASMPOOL_ERROR_INVALID_MODULE, "module_deserialize, changed: {kind}");
            self.stats.refused += 1;
        } else {
            assert_eq!(kind, 0, "module_deserialize of intact bytes on their engine");
            assert!(!out.is_null());
            assert_eq!(wasmpool_module_exports_len(out), wasmpool_module_exports_len(module));
            wasmpool_module_delete(out);
            self.stats.loaded += 1;
        }
        if kind != 0 {
            assert!(out.is_null(), "module_deserialize wrote a module with an error");
        }
        // A path that is NULL, missing or a directory.
        let path = *u.choose(&[None, Some(c"/nonexistent/m.cwasm"), Some(c"/")]).unwrap_or(&None);
        let mut out = null_mut();
        let err = wasmpool_module_deserialize_file(
            self.engines[e],
            path.map_or(null(), |p| p.as_ptr()),
            &mut out,
        );
        let kind = kind_of(err, "module_deserialize_file");
        assert!(
            [WASMPOOL_ERROR_INVALID_ARGUMENT, WASMPOOL_ERROR_INVALID_MODULE].contains(&kind),
            "module_deserialize_file({path:?}): {kind}"
        );
        assert!(out.is_null());
    }

    fn lifecycle(&mut self, u: &mut Unstructured<'_>) {
        let config =
            if u.arbitrary().unwrap_or(false) { wasmpool_config_new() } else { null_mut() };
        wasmpool_config_set_max_wasm_stack(config, 1 << 20);
        let mut engine = null_mut();
        assert_eq!(kind_of(wasmpool_engine_new(config, &mut engine), "engine_new"), 0);
        let k = kind_of(wasmpool_engine_new(config, null_mut()), "engine_new NULL out");
        assert_eq!(k, WASMPOOL_ERROR_INVALID_ARGUMENT);
        wasmpool_config_delete(config);
        let wasm = wasm_of(NO_IMPORT);
        let mut m = null_mut();
        let k =
            kind_of(wasmpool_module_new(null(), wasm.as_ptr(), wasm.len(), &mut m), "module_new");
        assert_eq!((k, m.is_null()), (WASMPOOL_ERROR_INVALID_ARGUMENT, true));
        let k =
            kind_of(wasmpool_module_new(engine, wasm.as_ptr(), wasm.len(), &mut m), "module_new");
        assert_eq!(k, 0);
        assert!(wasmpool_linker_new(null()).is_null());
        let linker = wasmpool_linker_new(engine);
        let mut pre = null_mut();
        let k = kind_of(wasmpool_linker_instantiate_pre(linker, m, &mut pre), "pre");
        assert_eq!(k, 0);
        // The engine is freed before what was made from it, which keeps it
        // alive: the instance-pre still instantiates in the store.
        let store = wasmpool_store_new(engine, null_mut(), None);
        wasmpool_engine_delete(engine);
        let (mut instance, mut trap) = (null_mut(), null_mut());
        let k =
            kind_of(wasmpool_instance_pre_instantiate(pre, store, &mut instance, &mut trap), "pre");
        assert_eq!((k, trap.is_null(), instance.is_null()), (0, true, false));
        let mut run = null_mut();
        let k = kind_of(wasmpool_instance_get_func(instance, c"run".as_ptr(), &mut run), "get");
        assert_eq!(k, 0);
        let mut result = wasmpool_val_t { kind: 9, of: wasmpool_val_union { i64: 0 } };
        let k =
            kind_of(wasmpool_func_call(store, run, null(), 0, &mut result, 1, &mut trap), "call");
        assert_eq!(k, 0);
        let code = wasmpool_trap_code(trap);
        // SAFETY: a call without a trap wrote an i32 result.
        let got = (code, result.kind, unsafe { result.of.i32 });
        assert_eq!(got, (255, WASMPOOL_I32, 42), "trap code, result kind, result");
        wasmpool_store_delete(store);
        wasmpool_instance_pre_delete(pre);
        wasmpool_linker_delete(linker);
        wasmpool_module_delete(m);
    }

    fn misc(&mut self, u: &mut Unstructured<'_>) {
        // NULL and neutral values of the small query functions.
        assert_eq!(wasmpool_error_kind(null()), WASMPOOL_ERROR_INVALID_ARGUMENT);
        assert!(!wasmpool_error_message(null()).is_null());
        assert_eq!(wasmpool_trap_code(null()), 255);
        assert!(!wasmpool_trap_message(null()).is_null());
        let mut idx = 0;
        assert!(!wasmpool_trap_function_index(null(), &mut idx));
        wasmpool_trap_delete(null_mut());
        wasmpool_error_delete(null_mut());
        wasmpool_store_delete(null_mut());
        let msg = if u.arbitrary().unwrap_or(false) { c"host".as_ptr() } else { null() };
        let t = wasmpool_trap_new(msg);
        assert!(!t.is_null());
        assert_eq!(wasmpool_trap_code(t), WASMPOOL_TRAP_HOST);
        wasmpool_trap_delete(t);
        let e = self.engines[u.choose_index(2).unwrap_or(0)];
        let mut metrics = std::mem::MaybeUninit::<wasmpool_pool_metrics_t>::zeroed();
        let pooled = wasmpool_engine_pool_metrics(e, metrics.as_mut_ptr());
        assert_eq!(pooled, wasmpool_engine_is_pooling(e));
        assert!(!wasmpool_engine_pool_metrics(null(), metrics.as_mut_ptr()));
        wasmpool_engine_increment_epoch(e);
        wasmpool_engine_flush_pool(e);
        let mut bytes = null_mut();
        let mut len = 0;
        let wat = c"(module (func (export \"x\"";
        let n = wat.to_bytes().len();
        let k = kind_of(wasmpool_wat2wasm(wat.as_ptr(), n, &mut bytes, &mut len), "wat2wasm");
        assert_eq!(k, WASMPOOL_ERROR_INVALID_MODULE, "unbalanced text");
        assert!(bytes.is_null(), "out-parameters written only on success");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for rec in self.stores.drain(..) {
            wasmpool_store_delete(rec.ptr);
        }
        // Every store is gone: the pool must be empty again.
        let mut metrics = std::mem::MaybeUninit::<wasmpool_pool_metrics_t>::zeroed();
        assert!(wasmpool_engine_pool_metrics(self.engines[1], metrics.as_mut_ptr()));
        // SAFETY: written by the call above (and zeroed before it).
        let m = unsafe { metrics.assume_init() };
        if !std::thread::panicking() {
            assert_eq!((m.core_instances, m.memories, m.tables), (0, 0, 0), "pool slots leaked");
        }
    }
}

/// Runs one input: up to 64 calls; panics on any undocumented outcome.
pub fn run(data: &[u8]) -> Stats {
    let mut u = Unstructured::new(data);
    let mut world = World::new();
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        world.step(&mut u);
    }
    Stats { calls: world.calls, ..world.stats }
}
