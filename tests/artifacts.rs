//! Precompiled modules: for every workload, a module loaded from
//! `Module::serialize`'s bytes (and from a file written with them) gives the
//! results of the compiled module, under both allocation strategies; one
//! file serves pooled and on-demand engines; file-backed modules make no
//! copy of their data. The refusals of damaged or foreign files are tested
//! beside the format, in `src/module/artifact.rs`.

use wasmpool::*;

mod common;
use common::{EXEC, INST, wat};

fn engines() -> [(&'static str, Engine); 2] {
    let pool = PoolingConfig {
        total_core_instances: 4,
        total_memories: 4,
        total_tables: 4,
        max_memory_size: 256 << 20,
        ..PoolingConfig::default()
    };
    [
        ("on-demand", Engine::new(&Config::default()).unwrap()),
        ("pooling", Engine::new_pooling(&Config::default(), &pool).unwrap()),
    ]
}

/// A temporary file path unique to this test process and `name`.
fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("wasmpool-artifacts-{}-{name}.cwasm", std::process::id()))
}

/// The three ways to get a module: compiled, loaded from bytes, loaded
/// from a file.
fn variants(engine: &Engine, wasm: &[u8], name: &str) -> Vec<(&'static str, Module)> {
    let compiled = Module::new(engine, wasm).unwrap();
    let bytes = compiled.serialize().unwrap();
    let from_bytes = Module::deserialize(engine, &bytes).unwrap();
    let path = temp_path(name);
    std::fs::write(&path, &bytes).unwrap();
    let from_file = Module::deserialize_file(engine, &path).unwrap();
    // The module keeps the file mapped; the name may go.
    std::fs::remove_file(&path).unwrap();
    vec![("compiled", compiled), ("from bytes", from_bytes), ("from a file", from_file)]
}

fn call<P: WasmList, R: WasmList>(engine: &Engine, module: &Module, arg: P) -> R {
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, module).unwrap();
    let run = instance.get_func(&mut store, "run").unwrap().typed::<P, R>(&store).unwrap();
    run.call(&mut store, arg).unwrap()
}

#[test]
fn exec_workloads_give_the_same_results_loaded() {
    for (strategy, engine) in engines() {
        for (name, arg, want) in EXEC {
            for (how, module) in variants(&engine, &wat(name), name) {
                let got: i64 = call(&engine, &module, arg);
                assert_eq!(got, want, "{name} {how} under {strategy}");
            }
        }
    }
}

#[test]
fn inst_workloads_give_the_same_results_loaded() {
    for (strategy, engine) in engines() {
        for (name, want) in INST {
            for (how, module) in variants(&engine, &wat(name), name) {
                for i in 0..20 {
                    let got: i32 = call(&engine, &module, ());
                    assert_eq!(got, want, "{name} {how} under {strategy}, instantiation {i}");
                }
            }
        }
    }
}

#[test]
fn one_file_serves_both_strategies() {
    let [(_, on_demand), (_, pooling)] = engines();
    for name in ["exec-memops", "inst-bigimage", "inst-table", "inst-globals"] {
        let wasm = wat(name);
        let a = Module::new(&on_demand, &wasm).unwrap().serialize().unwrap();
        let b = Module::new(&pooling, &wasm).unwrap().serialize().unwrap();
        assert!(a == b, "{name}: pooled and on-demand engines generate the same file");
    }
    // A file from either engine loads into the other.
    let (name, want) = INST[2];
    let bytes = Module::new(&on_demand, &wat(name)).unwrap().serialize().unwrap();
    let module = Module::deserialize(&pooling, &bytes).unwrap();
    assert_eq!(call::<(), i32>(&pooling, &module, ()), want);
}

/// The memfds and mappings of `path` this process has open.
fn memfd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("memfd:wasmpool-image"))
        .count()
}

#[test]
fn a_file_backed_module_maps_the_file_as_its_image() {
    for (strategy, engine) in engines() {
        let (name, want) = INST[2];
        let compiled = Module::new(&engine, &wat(name)).unwrap();
        let image_bytes = compiled.image_bytes();
        assert!(image_bytes >= 1 << 20, "{name} has an image");
        let path = temp_path(&format!("image-{strategy}"));
        std::fs::write(&path, compiled.serialize().unwrap()).unwrap();
        drop(compiled);
        let memfds = memfd_count();
        let module = Module::deserialize_file(&engine, &path).unwrap();
        assert_eq!(module.image_bytes(), image_bytes, "the same image, in the file");
        assert_eq!(memfd_count(), memfds, "no memfd for a file-backed module");
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path_str = path.to_string_lossy().into_owned();
        // The code (r-xp) and the instance's memory (rw-p, copy-on-write)
        // are mappings of the file.
        let of_file: Vec<&str> = maps.lines().filter(|l| l.ends_with(&path_str)).collect();
        assert!(of_file.iter().any(|l| l.contains(" r-xp ")), "code mapped: {of_file:#?}");
        assert!(of_file.iter().any(|l| l.contains(" rw-p ")), "image mapped: {of_file:#?}");
        let run = instance.get_func(&mut store, "run").unwrap().typed::<(), i32>(&store).unwrap();
        assert_eq!(run.call(&mut store, ()).unwrap(), want, "under {strategy}");
        drop(store);
        drop(module);
        engine.flush_pool();
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn without_memory_init_cow_a_loaded_module_copies_its_segments() {
    let config = Config { memory_init_cow: false, ..Config::default() };
    let engine = Engine::new(&config).unwrap();
    for (name, want) in INST {
        for (how, module) in variants(&engine, &wat(name), name) {
            assert_eq!(module.image_bytes(), 0);
            assert_eq!(call::<(), i32>(&engine, &module, ()), want, "{name} {how}");
        }
    }
}

#[test]
fn a_loaded_module_traps_with_the_same_backtrace() {
    let engine = Engine::new(&Config::default()).unwrap();
    let wasm = wat::parse_str(
        r#"(module $m
            (func $inner (param i32) (result i32)
                local.get 0
                i32.const 0
                i32.div_u)
            (func $outer (export "run") (result i32)
                i32.const 7
                call $inner))"#,
    )
    .unwrap();
    let mut traces = Vec::new();
    for (how, module) in variants(&engine, &wasm, "backtrace") {
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let run = instance.get_func(&mut store, "run").unwrap().typed::<(), i32>(&store).unwrap();
        let err = run.call(&mut store, ()).unwrap_err();
        let trap = err.trap().unwrap_or_else(|| panic!("{how}: {err:?}"));
        assert_eq!(trap.code(), TrapCode::IntegerDivisionByZero, "{how}");
        let frames: Vec<_> = trap
            .frames()
            .iter()
            .map(|f| (f.func_index(), f.func_name().map(str::to_string), f.module_offset()))
            .collect();
        assert_eq!(frames.len(), 2, "{how}: {frames:?}");
        assert_eq!(frames[0].1.as_deref(), Some("inner"), "{how}");
        assert_eq!(frames[1].1.as_deref(), Some("outer"), "{how}");
        traces.push(frames);
    }
    assert_eq!(traces[0], traces[1]);
    assert_eq!(traces[0], traces[2]);
}
