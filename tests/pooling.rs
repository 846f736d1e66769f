//! Pooling allocator behaviour: isolation between instances that reuse a
//! slot, every pool limit, per-module limits, warm-slot accounting, decommit
//! batching, keep-resident page faults, and engine-creation errors.

use wasmpool::*;

fn pool(n: u32) -> PoolingConfig {
    PoolingConfig {
        total_core_instances: n,
        total_memories: n,
        total_tables: n,
        max_memory_size: 16 << 20,
        table_elements: 1000,
        ..PoolingConfig::default()
    }
}

fn engine_with(pool: &PoolingConfig, config: &Config) -> Engine {
    Engine::new_pooling(config, pool).unwrap()
}

fn engine(n: u32) -> Engine {
    engine_with(&pool(n), &Config::default())
}

fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, &wat::parse_str(wat).unwrap()).unwrap()
}

fn instantiate(engine: &Engine, module: &Module) -> (Store<()>, Instance) {
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, module).unwrap();
    (store, instance)
}

fn call(store: &mut Store<()>, instance: Instance, name: &str, args: &[Val]) -> Result<Vec<Val>> {
    let f = instance.get_func(store, name).unwrap();
    let mut results = vec![Val::I32(0); f.ty(store).results().len()];
    f.call(store, args, &mut results)?;
    Ok(results)
}

const SCRIBBLE: &str = r#"(module (memory (export "mem") 1 4)
    (data (i32.const 100) "pristine")
    (global (export "g") (mut i32) (i32.const 7))
    (table (export "t") 4 funcref) (elem (i32.const 1) $f)
    (func $f (result i32) i32.const 1)
    (func (export "scribble")
      (local i32)
      (loop
        (i32.store8 (local.get 0) (i32.const 255))
        (local.set 0 (i32.add (local.get 0) (i32.const 1)))
        (br_if 0 (i32.lt_u (local.get 0) (i32.const 65536))))
      (global.set 0 (i32.const 99))
      (table.set (i32.const 1) (ref.null func))
      (table.set (i32.const 2) (ref.func $f)))
    (func (export "grow") (drop (memory.grow (i32.const 2))) (i32.store (i32.const 131072) (i32.const 1)))
    (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
    (func (export "trap_mid_write") (i32.store (i32.const 0) (i32.const -1)) unreachable))"#;

/// Asserts an instance of SCRIBBLE looks freshly instantiated.
fn assert_pristine(store: &mut Store<()>, instance: Instance) {
    let mem = instance.get_memory(store, "mem").unwrap();
    let data = mem.data(store).unwrap();
    assert_eq!(data.len(), 65536, "memory is back at its minimum");
    assert_eq!(&data[100..108], b"pristine");
    assert!(
        data[..100].iter().chain(&data[108..]).all(|b| *b == 0),
        "no byte of the previous instance survives"
    );
    assert_eq!(instance.get_global(store, "g").unwrap().get(store), Val::I32(7));
    let t = instance.get_table(store, "t").unwrap();
    assert!(matches!(t.get(store, 1), Some(Val::FuncRef(Some(_)))));
    assert_eq!(t.get(store, 2), Some(Val::FuncRef(None)));
}

#[test]
fn memory_written_everywhere_reads_back_as_zeros_on_reuse() {
    for cow in [true, false] {
        let engine = engine_with(&pool(1), &Config { memory_init_cow: cow, ..Config::default() });
        let m = module(&engine, SCRIBBLE);
        for _ in 0..10 {
            let (mut store, instance) = instantiate(&engine, &m);
            assert_pristine(&mut store, instance);
            call(&mut store, instance, "scribble", &[]).unwrap();
            assert_eq!(
                call(&mut store, instance, "peek", &[Val::I32(100)]).unwrap(),
                vec![Val::I32(255)]
            );
        }
        let metrics = engine.pool_metrics().unwrap();
        assert_eq!(metrics.core_instances, 0);
        assert_eq!(metrics.resets, 20, "one memory and one table reset per instance");
        assert_eq!(metrics.affinity_hits, 18, "every reuse after the first finds its own slot");
    }
}

#[test]
fn keep_resident_bytes_are_restored_by_hand() {
    let p = PoolingConfig {
        linear_memory_keep_resident: 1 << 20,
        table_keep_resident: 1 << 16,
        ..pool(1)
    };
    let engine = engine_with(&p, &Config::default());
    let m = module(&engine, SCRIBBLE);
    for _ in 0..5 {
        let (mut store, instance) = instantiate(&engine, &m);
        assert_pristine(&mut store, instance);
        call(&mut store, instance, "scribble", &[]).unwrap();
    }
    let metrics = engine.pool_metrics().unwrap();
    assert_eq!(metrics.unused_memory_bytes_resident, 65536);
    assert_eq!(metrics.unused_table_bytes_resident, 4096);
}

#[test]
fn switching_a_slot_between_a_module_with_an_image_and_one_without() {
    let engine = engine(1);
    let with_image = module(&engine, SCRIBBLE);
    let plain = module(
        &engine,
        r#"(module (memory (export "mem") 1) (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    );
    for _ in 0..3 {
        let (mut store, instance) = instantiate(&engine, &with_image);
        assert_pristine(&mut store, instance);
        call(&mut store, instance, "scribble", &[]).unwrap();
        drop(store);
        let (mut store, instance) = instantiate(&engine, &plain);
        let mem = instance.get_memory(&mut store, "mem").unwrap();
        assert!(
            mem.data(&store).unwrap().iter().all(|b| *b == 0),
            "the image does not leak into another module"
        );
        mem.data_mut(&mut store).unwrap().fill(9);
    }
}

/// A module whose table is written only by lazy materialization (not
/// exported, no table instructions): `call` goes through element `i`.
fn lazy_table_module(engine: &Engine, elements: &str) -> Module {
    module(
        engine,
        &format!(
            r#"(module (type $t (func (result i32)))
                (table 1000 funcref) (elem (i32.const 0) func {elements})
                (func $a (result i32) i32.const 11) (func $b (result i32) i32.const 22)
                (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))"#
        ),
    )
}

#[test]
fn lazily_materialized_table_elements_do_not_survive_into_the_next_instance() {
    // One table slot, shared by a module whose table is full and one whose
    // table has only two elements: elements the first materialized, on
    // pages far apart, must read as null for the second. Run with and
    // without a keep-resident budget (zeroing by hand, or decommitting).
    for keep in [0, 4096, 1 << 16] {
        let p = PoolingConfig { table_keep_resident: keep, ..pool(1) };
        let engine = engine_with(&p, &Config::default());
        let full = lazy_table_module(&engine, &"$a $b ".repeat(500));
        let short = lazy_table_module(&engine, "$b $a");
        for round in 0..3 {
            let (mut store, instance) = instantiate(&engine, &full);
            for (i, want) in [(0, 11), (1, 22), (600, 11), (999, 22)] {
                let got = call(&mut store, instance, "call", &[Val::I32(i)]).unwrap();
                assert_eq!(got, [Val::I32(want)], "keep {keep}, round {round}, element {i}");
            }
            drop(store);
            let (mut store, instance) = instantiate(&engine, &short);
            assert_eq!(call(&mut store, instance, "call", &[Val::I32(0)]).unwrap(), [Val::I32(22)]);
            for i in [2, 600, 999] {
                let trap = call(&mut store, instance, "call", &[Val::I32(i)]).unwrap_err();
                assert_eq!(
                    trap.trap().map(|t| t.code()),
                    Some(TrapCode::IndirectCallToNull),
                    "keep {keep}, round {round}, element {i}: {trap}"
                );
            }
        }
        let m = engine.pool_metrics().unwrap();
        assert!(m.unused_table_bytes_resident <= keep as u64, "keep {keep}: {m:?}");
    }
}

#[test]
fn a_grown_memory_is_back_at_the_minimum_and_beyond_it_traps() {
    let engine = engine(1);
    let m = module(&engine, SCRIBBLE);
    let (mut store, instance) = instantiate(&engine, &m);
    call(&mut store, instance, "grow", &[]).unwrap();
    assert_eq!(call(&mut store, instance, "peek", &[Val::I32(131072)]).unwrap(), vec![Val::I32(1)]);
    drop(store);
    let (mut store, instance) = instantiate(&engine, &m);
    let err = call(&mut store, instance, "peek", &[Val::I32(131072)]).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::MemoryOutOfBounds);
    assert_pristine(&mut store, instance);
}

#[test]
fn reuse_after_a_trap_mid_write() {
    let engine = engine(1);
    let m = module(&engine, SCRIBBLE);
    let (mut store, instance) = instantiate(&engine, &m);
    let err = call(&mut store, instance, "trap_mid_write", &[]).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::Unreachable);
    drop(store);
    let (mut store, instance) = instantiate(&engine, &m);
    assert_pristine(&mut store, instance);
}

#[test]
fn reuse_after_failed_instantiations() {
    let engine = engine(1);
    let start_traps = module(
        &engine,
        r#"(module (memory 1) (func $s (i32.store (i32.const 0) (i32.const -1)) unreachable) (start $s))"#,
    );
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine).instantiate(&mut store, &start_traps).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::Unreachable);
    drop(store);
    let needs_import = module(&engine, r#"(module (import "env" "f" (func)) (memory 1))"#);
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine).instantiate(&mut store, &needs_import).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Link);
    drop(store);
    assert_eq!(engine.pool_metrics().unwrap().core_instances, 0);
    let m = module(&engine, SCRIBBLE);
    let (mut store, instance) = instantiate(&engine, &m);
    assert_pristine(&mut store, instance);
}

#[test]
fn every_total_limit_is_reported_and_freeing_makes_room() {
    let cases = [
        (PoolingConfig { total_core_instances: 2, ..pool(10) }, "instance", "total_core_instances"),
        (PoolingConfig { total_memories: 2, ..pool(10) }, "memory", "total_memories"),
        (PoolingConfig { total_tables: 2, ..pool(10) }, "table", "total_tables"),
    ];
    for (p, kind, knob) in cases {
        let engine = engine_with(&p, &Config::default());
        let m = module(&engine, SCRIBBLE);
        let a = instantiate(&engine, &m);
        let b = instantiate(&engine, &m);
        let mut store = Store::new(&engine, ());
        let err = Linker::new(&engine).instantiate(&mut store, &m).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolExhausted, "{}", err.message());
        assert!(
            err.message().contains(kind)
                && err.message().contains(knob)
                && err.message().contains('2'),
            "{}",
            err.message()
        );
        drop(a);
        let (mut s, i) = instantiate(&engine, &m);
        assert_pristine(&mut s, i);
        drop(b);
        let metrics = engine.pool_metrics().unwrap();
        assert_eq!(metrics.core_instances, 1, "the failed attempt returned every slot it took");
    }
}

#[test]
fn every_per_module_limit_is_reported_at_compile_time() {
    let cases = [
        (
            PoolingConfig { max_memories_per_module: 1, ..pool(4) },
            "(module (memory 1) (memory 1))",
            "max_memories_per_module",
        ),
        (
            PoolingConfig { max_tables_per_module: 1, ..pool(4) },
            "(module (table 1 funcref) (table 1 funcref))",
            "max_tables_per_module",
        ),
        (
            PoolingConfig { max_memory_size: 65536, ..pool(4) },
            "(module (memory 2))",
            "max_memory_size",
        ),
        (
            PoolingConfig { table_elements: 10, ..pool(4) },
            "(module (table 11 funcref))",
            "table_elements",
        ),
        (
            PoolingConfig { max_core_instance_size: 64, ..pool(4) },
            "(module (global i32 (i32.const 0)) (func))",
            "max_core_instance_size",
        ),
    ];
    for (p, wat, knob) in cases {
        let engine = engine_with(&p, &Config::default());
        let err = Module::new(&engine, &wat::parse_str(wat).unwrap()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Limit, "{wat}: {}", err.message());
        assert!(err.message().contains(knob), "{}", err.message());
    }
}

/// Where an instance's exported memory `mem` lives (identifies its slot).
fn memory_base(store: &mut Store<()>, instance: Instance) -> usize {
    instance.get_memory(store, "mem").unwrap().data(store).unwrap().as_ptr() as usize
}

#[test]
fn the_same_module_gets_its_slot_back_without_remapping_its_image() {
    let engine = engine(4);
    let m = module(&engine, SCRIBBLE);
    let (mut store, instance) = instantiate(&engine, &m);
    let first = memory_base(&mut store, instance);
    drop(store);
    assert_eq!(engine.pool_metrics().unwrap().image_mappings, 1);
    for _ in 0..5 {
        let (mut store, instance) = instantiate(&engine, &m);
        assert_eq!(memory_base(&mut store, instance), first, "same slot");
    }
    let metrics = engine.pool_metrics().unwrap();
    assert_eq!(metrics.image_mappings, 1, "the image stayed mapped: {metrics:?}");
    assert!(metrics.affinity_hits >= 5);
}

#[test]
fn warm_slots_never_exceed_the_budget_and_zero_means_peak_concurrency() {
    let p = PoolingConfig { max_unused_warm_slots: 0, ..pool(8) };
    let engine = engine_with(&p, &Config::default());
    let modules: Vec<Module> = (0..4)
        .map(|i| {
            module(
                &engine,
                &format!(r#"(module (memory (export "mem") 1) (global i32 (i32.const {i})))"#),
            )
        })
        .collect();
    let mut slots = std::collections::HashSet::new();
    for round in 0..20 {
        let (mut sa, ia) = instantiate(&engine, &modules[round % 4]);
        let (mut sb, ib) = instantiate(&engine, &modules[(round + 1) % 4]);
        slots.insert(memory_base(&mut sa, ia));
        slots.insert(memory_base(&mut sb, ib));
        drop((sa, sb));
        assert_eq!(engine.pool_metrics().unwrap().unused_warm_memories, 0);
    }
    assert_eq!(slots.len(), 2, "distinct slots ever used equal the peak of 2 live instances");
    let p = PoolingConfig { max_unused_warm_slots: 2, ..pool(8) };
    let engine = engine_with(&p, &Config::default());
    let modules: Vec<Module> = (0..4)
        .map(|i| module(&engine, &format!("(module (memory 1) (global i32 (i32.const {i})))")))
        .collect();
    let live: Vec<_> = modules.iter().map(|m| instantiate(&engine, m)).collect();
    drop(live);
    let metrics = engine.pool_metrics().unwrap();
    assert!(metrics.unused_warm_memories <= 2, "{metrics:?}");
}

#[test]
fn decommits_are_batched_and_flushed_before_exhaustion() {
    let p = PoolingConfig { decommit_batch_size: 3, total_memories: 1, ..pool(4) };
    let engine = engine_with(&p, &Config::default());
    let m = module(
        &engine,
        r#"(module (memory 1) (func (export "w") (i32.store (i32.const 0) (i32.const 1))))"#,
    );
    let (mut store, instance) = instantiate(&engine, &m);
    call(&mut store, instance, "w", &[]).unwrap();
    drop(store);
    assert_eq!(engine.pool_metrics().unwrap().decommits, 0, "queued, not yet flushed");
    // The only memory slot is queued: allocating flushes the queue first.
    let (mut store, instance) = instantiate(&engine, &m);
    assert_eq!(engine.pool_metrics().unwrap().decommits, 1);
    call(&mut store, instance, "w", &[]).unwrap();
    drop(store);

    // With room in the pool, the batch is flushed once N resets are queued.
    let p = PoolingConfig { decommit_batch_size: 3, ..pool(8) };
    let engine = engine_with(&p, &Config::default());
    let m = module(
        &engine,
        r#"(module (memory 1) (func (export "w") (i32.store (i32.const 0) (i32.const 1))))"#,
    );
    let stores: Vec<_> = (0..3)
        .map(|_| {
            let (mut store, instance) = instantiate(&engine, &m);
            call(&mut store, instance, "w", &[]).unwrap();
            store
        })
        .collect();
    let mut stores = stores.into_iter();
    drop(stores.next());
    drop(stores.next());
    assert_eq!(engine.pool_metrics().unwrap().decommits, 0, "two resets queued");
    drop(stores.next());
    assert_eq!(engine.pool_metrics().unwrap().decommits, 3, "the third fills the batch");
}

/// Minor page faults of this thread so far.
fn minor_faults() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    usage.ru_minflt as u64
}

#[test]
fn keep_resident_reuse_takes_no_page_faults() {
    let wat = r#"(module (memory 2) (data (i32.const 0) "image")
        (func (export "w") (i32.store (i32.const 70000) (i32.const 1)) (i32.store (i32.const 8) (i32.const 2))))"#;
    let faults_per_100 = |keep: usize| {
        let p = PoolingConfig {
            linear_memory_keep_resident: keep,
            table_keep_resident: keep,
            ..pool(2)
        };
        let engine = engine_with(&p, &Config::default());
        let m = module(&engine, wat);
        let pre = Linker::<()>::new(&engine).instantiate_pre(&m).unwrap();
        let run = |n: usize| {
            for _ in 0..n {
                let mut store = Store::new(&engine, ());
                let instance = pre.instantiate(&mut store).unwrap();
                let w = instance.get_func(&mut store, "w").unwrap();
                w.call(&mut store, &[], &mut []).unwrap();
            }
        };
        run(50);
        let before = minor_faults();
        run(100);
        minor_faults() - before
    };
    let resident = faults_per_100(1 << 20);
    let decommitted = faults_per_100(0);
    assert!(resident <= 2, "keep-resident took {resident} faults in 100 steady-state iterations");
    assert!(
        decommitted >= 100,
        "without keep-resident each iteration faults its pages back ({decommitted})"
    );
}

#[test]
fn the_allocation_strategy_is_an_engine_knob() {
    let config = Config {
        allocation_strategy: InstanceAllocationStrategy::Pooling(pool(2)),
        ..Config::default()
    };
    let engine = Engine::new(&config).unwrap();
    assert!(engine.is_pooling());
    assert!(!Engine::new(&Config::default()).unwrap().is_pooling());
    assert_eq!(Engine::new(&Config::default()).unwrap().pool_metrics(), None);
}

#[test]
fn engine_creation_errors_are_clear() {
    let p = PoolingConfig { memory_protection_keys: MpkEnabled::Enable, ..pool(2) };
    let err = Engine::new_pooling(&Config::default(), &p).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{}", err.message());
    let p = PoolingConfig { memory_protection_keys: MpkEnabled::Auto, ..pool(2) };
    assert!(Engine::new_pooling(&Config::default(), &p).is_ok());
    let p = PoolingConfig { total_memories: 1 << 20, max_memory_size: 4 << 30, ..pool(2) };
    let err = Engine::new_pooling(&Config::default(), &p).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Resource, "{}", err.message());
    assert!(err.message().contains("bytes of address space"), "{}", err.message());
}

#[test]
fn threads_share_one_pooled_engine() {
    let engine = engine(8);
    let m = module(
        &engine,
        r#"(module (memory (export "mem") 1) (global (export "g") (mut i64) (i64.const 0))
            (func (export "stamp") (param i64)
              (i64.store (i32.const 8) (local.get 0))
              (i64.store (i32.const 40000) (local.get 0))
              (global.set 0 (local.get 0))))"#,
    );
    let pre = Linker::<()>::new(&engine).instantiate_pre(&m).unwrap();
    std::thread::scope(|s| {
        for t in 0..3i64 {
            let (engine, pre) = (&engine, &pre);
            s.spawn(move || {
                for i in 0..10_000i64 {
                    let mut store = Store::new(engine, ());
                    let instance = pre.instantiate(&mut store).unwrap();
                    let mem = instance.get_memory(&mut store, "mem").unwrap();
                    let data = mem.data(&store).unwrap();
                    assert!(
                        data[8..16].iter().chain(&data[40000..40008]).all(|b| *b == 0),
                        "another instance's data leaked"
                    );
                    assert_eq!(
                        instance.get_global(&mut store, "g").unwrap().get(&store),
                        Val::I64(0)
                    );
                    let stamp = instance
                        .get_func(&mut store, "stamp")
                        .unwrap()
                        .typed::<i64, ()>(&store)
                        .unwrap();
                    stamp.call(&mut store, (t << 32) | (i + 1)).unwrap();
                }
            });
        }
    });
    let metrics = engine.pool_metrics().unwrap();
    assert_eq!((metrics.core_instances, metrics.memories, metrics.tables), (0, 0, 0));
}
