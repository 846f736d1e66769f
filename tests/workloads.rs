//! The benchmark workloads (`workloads/`, a copy of ../shared/workloads)
//! return their listed results: every `exec-*` once, every `inst-*` on each
//! of 1000 consecutive instantiations under both allocation strategies (one
//! slot of each kind under pooling, so every instantiation reuses it). Also
//! the page-fault behaviour of keep-resident resets on `inst-data64k`.

use wasmpool::*;

mod common;
use common::{EXEC, INST, wat};

fn one_slot_pool(keep_resident: usize) -> PoolingConfig {
    PoolingConfig {
        total_core_instances: 1,
        total_memories: 1,
        total_tables: 1,
        max_memory_size: 256 << 20,
        linear_memory_keep_resident: keep_resident,
        table_keep_resident: keep_resident,
        ..PoolingConfig::default()
    }
}

#[test]
fn exec_workloads_return_their_listed_results() {
    let engine = Engine::new(&Config::default()).unwrap();
    for (name, arg, want) in EXEC {
        let module = Module::new(&engine, &wat(name)).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let run = instance.get_func(&mut store, "run").unwrap().typed::<i32, i64>(&store).unwrap();
        assert_eq!(run.call(&mut store, arg).unwrap(), want, "{name}");
    }
}

#[test]
fn inst_workloads_return_their_values_on_1000_consecutive_instantiations() {
    let engines = [
        ("ondemand", Engine::new(&Config::default()).unwrap()),
        ("pooling", Engine::new_pooling(&Config::default(), &one_slot_pool(0)).unwrap()),
        (
            "pooling-keep-resident",
            Engine::new_pooling(&Config::default(), &one_slot_pool(1 << 20)).unwrap(),
        ),
    ];
    for (strategy, engine) in &engines {
        for (name, want) in INST {
            let module = Module::new(engine, &wat(name)).unwrap();
            let pre = Linker::<()>::new(engine).instantiate_pre(&module).unwrap();
            for i in 0..1000 {
                let mut store = Store::new(engine, ());
                let instance = pre.instantiate(&mut store).unwrap();
                let run =
                    instance.get_func(&mut store, "run").unwrap().typed::<(), i32>(&store).unwrap();
                assert_eq!(
                    run.call(&mut store, ()).unwrap(),
                    want,
                    "{name} under {strategy}, iteration {i}"
                );
            }
        }
        if let Some(m) = engine.pool_metrics() {
            assert_eq!(m.core_instances, 0);
        }
    }
}

/// Minor page faults of this thread so far.
fn minor_faults() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    usage.ru_minflt as u64
}

/// Minor faults over 1000 steady-state iterations of inst-data64k.
fn data64k_faults(keep_resident: usize) -> u64 {
    let engine = Engine::new_pooling(&Config::default(), &one_slot_pool(keep_resident)).unwrap();
    let module = Module::new(&engine, &wat("inst-data64k")).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    let iterate = |n: usize| {
        for _ in 0..n {
            let mut store = Store::new(&engine, ());
            let instance = pre.instantiate(&mut store).unwrap();
            let run =
                instance.get_func(&mut store, "run").unwrap().typed::<(), i32>(&store).unwrap();
            assert_eq!(run.call(&mut store, ()).unwrap(), 1498565454);
        }
    };
    iterate(100);
    let before = minor_faults();
    iterate(1000);
    minor_faults() - before
}

#[test]
fn keep_resident_takes_no_page_faults_in_steady_state() {
    let faults = data64k_faults(1 << 20);
    assert!(faults < 10, "{faults} minor faults in 1000 iterations: expected 0 per iteration");
}

#[test]
fn without_keep_resident_faults_are_bounded_by_the_pages_run_touches() {
    // `run` writes 4 OS pages (after reading them): a read fault and a
    // copy-on-write fault each at most.
    let faults = data64k_faults(0);
    let per_iteration = faults as f64 / 1000.0;
    assert!(per_iteration <= 8.5, "{per_iteration} faults per iteration");
    assert!(per_iteration >= 3.5, "the pages really are returned to the kernel ({per_iteration})");
}
