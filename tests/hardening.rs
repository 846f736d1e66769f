//! Hostile modules, guests and arguments that once crashed, stalled or
//! exhausted the host, each run as the attacker ran it. Where a crash is
//! possible the case runs in a child process (this test binary again,
//! filtered to the one test), under the same address-space limit
//! (`ulimit -v`) the report gave, and the parent asserts that the child
//! exited cleanly.

use std::process::Command;
use wasmpool::*;

/// The environment variable naming the test a child process runs.
const CHILD: &str = "WASMPOOL_HARDENING_CHILD";

/// Printed by a child whose body returned.
const CHILD_OK: &str = "hardening child finished";

/// Runs `body` in a child process: in the parent, spawns this binary
/// filtered to `name` and asserts the child ran `body` to its end; in the
/// child, runs `body` and exits, so nothing else of the test runs there.
/// `name` must be the calling test's name.
fn in_child(name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        body();
        println!("{CHILD_OK}");
        std::process::exit(0);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "child {name} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Limits this process's address space to `bytes` (`ulimit -v`).
fn limit_address_space(bytes: u64) {
    let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
    // SAFETY: `lim` is a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

/// This process's current address-space size (`VmSize`), in bytes.
fn address_space_in_use() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn call_i32(store: &mut Store<()>, instance: Instance, name: &str, args: &[Val]) -> Result<i32> {
    let f = instance.get_func(store, name).unwrap();
    let mut out = [Val::I32(0)];
    f.call(store, args, &mut out)?;
    match out[0] {
        Val::I32(v) => Ok(v),
        ref other => panic!("{other:?}"),
    }
}

/// The 39-byte module of the report: a 4 GiB memory with 16 bytes of data
/// at its very end.
const FAR_DATA: &str =
    r#"(module (memory 65536) (data (i32.const 0xFFFFFFF0) "0123456789abcdef"))"#;

/// The same, with the memory exported so a test can read it.
const FAR_DATA_EXPORTED: &str =
    r#"(module (memory (export "m") 65536) (data (i32.const 0xFFFFFFF0) "0123456789abcdef"))"#;

#[test]
fn sparse_data_compiles_without_a_big_image() {
    // Under `ulimit -v 6291456`, with a pool small enough to fit it, the
    // module compiles and instantiates with its data in place.
    in_child("sparse_data_compiles_without_a_big_image", || {
        limit_address_space(6291456 << 10);
        let wasm = wat::parse_str(FAR_DATA_EXPORTED).unwrap();
        let pool = PoolingConfig {
            total_core_instances: 1,
            total_memories: 1,
            total_tables: 1,
            ..PoolingConfig::default()
        };
        let engine = Engine::new_pooling(&Config::default(), &pool).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        assert!(module.image_bytes() <= 4 << 20);
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let memory = instance.get_memory(&mut store, "m").unwrap();
        let data = memory.data(&store).unwrap();
        assert_eq!(data.len(), 1 << 32);
        assert_eq!(&data[0xFFFF_FFF0..], b"0123456789abcdef");
    });
    // A default pooled engine (every knob at its default).
    let wasm = wat::parse_str(FAR_DATA).unwrap();
    assert_eq!(wasm.len(), 39);
    let engine = Engine::new_pooling(&Config::default(), &PoolingConfig::default()).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    assert_eq!(module.image_bytes(), 0, "16 bytes of data make no 4 GiB image");
}

#[test]
fn images_are_still_made_where_they_pay() {
    let engine = Engine::new_pooling(&Config::default(), &PoolingConfig::default()).unwrap();
    let wasm = wat::parse_str(r#"(module (memory 1) (data (i32.const 100) "hello"))"#).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    assert_eq!(module.image_bytes(), rustix::param::page_size());
}

const TABLE_GROW: &str = r#"(module
    (table 1 funcref)
    (func (export "grow") (param i32) (result i32) (table.grow (ref.null func) (local.get 0)))
    (func (export "size") (result i32) (table.size)))"#;

#[test]
fn guest_table_growth_is_bounded_and_fallible() {
    in_child("guest_table_growth_is_bounded_and_fallible", || {
        limit_address_space(8388608 << 10);
        let wasm = wat::parse_str(TABLE_GROW).unwrap();
        // The engine's default ceiling refuses both growths of the report.
        let engine = Engine::new(&Config::default()).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let grow = |store: &mut Store<()>, n: i32| {
            call_i32(store, instance, "grow", &[Val::I32(n)]).unwrap()
        };
        assert_eq!(grow(&mut store, 0x7fff_ffff), -1);
        assert_eq!(grow(&mut store, 50_000_000), -1);
        assert_eq!(grow(&mut store, 1000), 1, "ordinary growth still works");
        // Without the ceiling, the 16 GiB the guest asks for cannot be
        // allocated under the limit: -1, not an abort.
        let config = Config { max_table_elements: u32::MAX, ..Config::default() };
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(call_i32(&mut store, instance, "grow", &[Val::I32(0x7fff_ffff)]).unwrap(), -1);
        assert_eq!(call_i32(&mut store, instance, "size", &[]).unwrap(), 1);
    });
}

#[test]
fn host_tables_past_the_ceiling_are_errors() {
    let engine = Engine::new(&Config::default()).unwrap();
    let mut store = Store::new(&engine, ());
    let ty = TableType { element: ValType::FuncRef, min: u32::MAX, max: None };
    let err = Table::new(&mut store, ty, Val::FuncRef(None)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
    assert!(err.message().contains("max_table_elements"), "{}", err.message());
    let ty = TableType { element: ValType::FuncRef, min: 1, max: None };
    let t = Table::new(&mut store, ty, Val::FuncRef(None)).unwrap();
    let err = t.grow(&mut store, 20_000_000, Val::FuncRef(None)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Resource, "{}", err.message());
    assert_eq!(t.size(&store).unwrap(), 1);
    // A module declaring such a table is refused when compiled.
    let wasm = wat::parse_str("(module (table 20000000 funcref))").unwrap();
    let err = Module::new(&engine, &wasm).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
}

#[test]
fn host_memories_of_any_size_are_errors_or_memories() {
    let engine = Engine::new(&Config::default()).unwrap();
    let mut store = Store::new(&engine, ());
    for min in [u64::MAX, 1 << 48, 65537] {
        let err = Memory::new(&mut store, MemoryType { min, max: None }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{}", err.message());
    }
    let m = Memory::new(&mut store, MemoryType { min: 65536, max: None }).unwrap();
    assert_eq!(m.data_size(&store).unwrap(), 1 << 32);
    let err = m.grow(&mut store, u64::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Resource, "{}", err.message());
}

const RECURSE: &str = r#"(module
    (func $down (export "down") (param i64) (result i64)
        (i64.add (call $down (local.get 0)) (i64.const 1))))"#;

/// Runs unbounded recursion on a thread with a `stack`-byte stack and
/// returns the trap code.
fn recurse_on_thread(engine: &Engine, stack: usize) -> TrapCode {
    let engine = engine.clone();
    // Compiled here: compiling needs more stack than the smallest thread has.
    let module = Module::new(&engine, &wat::parse_str(RECURSE).unwrap()).unwrap();
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let mut store = Store::new(&engine, ());
            let instance = Instance::new(&mut store, &module, &[]).unwrap();
            let down = instance.get_func(&mut store, "down").unwrap();
            let err = down.call(&mut store, &[Val::I64(0)], &mut [Val::I64(0)]).unwrap_err();
            err.trap().expect("a trap").code()
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn recursion_traps_on_small_thread_stacks() {
    in_child("recursion_traps_on_small_thread_stacks", || {
        for engine in [
            Engine::new(&Config::default()).unwrap(),
            Engine::new(&Config { max_wasm_stack: 8 << 20, ..Config::default() }).unwrap(),
        ] {
            for stack in [64 << 10, 256 << 10, 512 << 10, 2 << 20] {
                assert_eq!(recurse_on_thread(&engine, stack), TrapCode::StackOverflow, "{stack}");
            }
        }
    });
}

/// A chain wasm -> host -> wasm -> host ..., each level in a new store,
/// `levels` deep at most; returns the outcome at the top.
fn store_chain(engine: &Engine, levels: u32) -> Result<i32> {
    let wasm = wat::parse_str(
        r#"(module
            (import "host" "next" (func $next (param i32) (result i32)))
            (func (export "run") (param i32) (result i32)
                (i32.add (call $next (local.get 0)) (i32.const 1))))"#,
    )
    .unwrap();
    let module = Module::new(engine, &wasm).unwrap();
    fn level(module: &Module, depth: i32, levels: u32) -> Result<i32> {
        let mut store = Store::new(module.engine(), ());
        let mut linker = Linker::new(module.engine());
        let inner = module.clone();
        linker.func_new(
            "host",
            "next",
            FuncType::new(vec![ValType::I32], vec![ValType::I32]),
            move |_, args, results| {
                let Val::I32(d) = args[0] else { unreachable!() };
                if d as u32 >= levels {
                    results[0] = Val::I32(0);
                    return Ok(());
                }
                match level(&inner, d + 1, levels) {
                    Ok(v) => {
                        results[0] = Val::I32(v);
                        Ok(())
                    }
                    Err(e) => Err(e.trap().cloned().unwrap_or_else(|| Trap::host(e.message()))),
                }
            },
        )?;
        let instance = linker.instantiate(&mut store, module)?;
        call_i32(&mut store, instance, "run", &[Val::I32(depth)])
    }
    level(&module, 0, levels)
}

#[test]
fn a_deep_chain_of_stores_traps() {
    in_child("a_deep_chain_of_stores_traps", || {
        let engine = Engine::new(&Config::default()).unwrap();
        let on_thread = |stack: usize, levels: u32| {
            let engine = engine.clone();
            std::thread::Builder::new()
                .stack_size(stack)
                .spawn(move || store_chain(&engine, levels))
                .unwrap()
                .join()
                .unwrap()
        };
        assert_eq!(on_thread(8 << 20, 20).unwrap(), 21, "a short chain completes");
        for stack in [8 << 20, 512 << 10] {
            let err = on_thread(stack, 10_000).unwrap_err();
            let trap = err.trap().unwrap_or_else(|| panic!("{}", err.message()));
            assert_eq!(trap.code(), TrapCode::StackOverflow, "{stack}: {trap}");
        }
    });
}

/// A module with one function whose body is `size` bytes of `nop`s.
fn module_with_body(size: usize) -> Vec<u8> {
    let mut wasm = wat::parse_str("(module (func))").unwrap();
    // Replace the code section: one body = locals count 0, nops, end.
    let code_at = wasm.iter().rposition(|&b| b == 10).unwrap();
    wasm.truncate(code_at);
    let mut body = vec![0u8]; // no locals
    body.resize(size - 1, 0x01); // nop
    body.push(0x0b); // end
    let mut section = vec![1u8]; // one body
    leb(&mut section, body.len() as u64);
    section.extend_from_slice(&body);
    wasm.push(10);
    leb(&mut wasm, section.len() as u64);
    wasm.extend_from_slice(&section);
    wasm
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn max_function_size_refuses_a_huge_body_before_compiling() {
    let wasm = module_with_body(7_654_321);
    in_child("max_function_size_refuses_a_huge_body_before_compiling", || {
        limit_address_space(1572864 << 10);
        let config = Config { max_function_size: 1 << 20, ..Config::default() };
        let engine = Engine::new(&config).unwrap();
        let err = Module::new(&engine, &wasm).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
        assert!(err.message().contains("max_function_size"), "{}", err.message());
        assert!(err.message().contains("7654321"), "{}", err.message());
        let config = Config { max_module_size: 1 << 20, ..Config::default() };
        let err = Module::new(&Engine::new(&config).unwrap(), &wasm).err().unwrap();
        assert!(err.message().contains("max_module_size"), "{}", err.message());
    });
    // A body under the limit compiles, and the default accepts the largest
    // body the validator allows (checked without compiling it).
    let small = module_with_body(1000);
    let config = Config { max_function_size: 1000, ..Config::default() };
    assert!(Module::new(&Engine::new(&config).unwrap(), &small).is_ok());
    assert_eq!(Config::default().max_function_size, 7_654_321);
}

#[test]
fn pooled_tables_stop_at_table_elements() {
    for (table_elements, ok, refused) in [(100, 99, 100), (128, 127, 128)] {
        let pool = PoolingConfig {
            total_core_instances: 2,
            total_memories: 2,
            total_tables: 2,
            table_elements,
            ..PoolingConfig::default()
        };
        let engine = Engine::new_pooling(&Config::default(), &pool).unwrap();
        let module = Module::new(&engine, &wat::parse_str(TABLE_GROW).unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(call_i32(&mut store, instance, "grow", &[Val::I32(refused)]).unwrap(), -1);
        assert_eq!(call_i32(&mut store, instance, "grow", &[Val::I32(ok)]).unwrap(), 1);
        assert_eq!(call_i32(&mut store, instance, "size", &[]).unwrap(), table_elements as i32);
        assert_eq!(call_i32(&mut store, instance, "grow", &[Val::I32(1)]).unwrap(), -1);
    }
}

#[test]
fn export_types_do_not_depend_on_the_strategy() {
    let wat = r#"(module
        (memory (export "m") 1) (memory (export "bounded") 1 3)
        (table (export "t") 1 funcref) (table (export "bt") 1 7 funcref))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let pool = PoolingConfig {
        max_memories_per_module: 2,
        max_tables_per_module: 2,
        max_memory_size: 8 << 16,
        table_elements: 512,
        total_core_instances: 2,
        total_memories: 4,
        total_tables: 4,
        ..PoolingConfig::default()
    };
    let mut seen = Vec::new();
    for engine in [
        Engine::new(&Config::default()).unwrap(),
        Engine::new_pooling(&Config::default(), &pool).unwrap(),
    ] {
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let m = instance.get_memory(&mut store, "m").unwrap().ty(&store).unwrap();
        let b = instance.get_memory(&mut store, "bounded").unwrap().ty(&store).unwrap();
        let t = instance.get_table(&mut store, "t").unwrap().ty(&store).unwrap();
        let bt = instance.get_table(&mut store, "bt").unwrap().ty(&store).unwrap();
        assert_eq!(m, MemoryType { min: 1, max: None });
        assert_eq!(b, MemoryType { min: 1, max: Some(3) });
        assert_eq!(t, TableType { element: ValType::FuncRef, min: 1, max: None });
        assert_eq!(bt, TableType { element: ValType::FuncRef, min: 1, max: Some(7) });
        seen.push((m, b, t, bt, module.exports()));
    }
    assert_eq!(seen[0], seen[1]);
}

const GROWER: &str = r#"(module
    (memory (export "m") 1)
    (table 1 externref)
    (func (export "grow_memory") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "grow_table") (param i32) (result i32)
        (table.grow (ref.null extern) (local.get 0))))"#;

#[test]
fn store_limits_bound_growth_and_counts() {
    for engine in [
        Engine::new(&Config::default()).unwrap(),
        Engine::new_pooling(&Config::default(), &PoolingConfig { ..PoolingConfig::default() })
            .unwrap(),
    ] {
        let module = Module::new(&engine, &wat::parse_str(GROWER).unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        store.limiter(
            StoreLimitsBuilder::new()
                .memory_size(3 << 16)
                .table_elements(10)
                .instances(2)
                .memories(2)
                .build(),
        );
        let i = Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(call_i32(&mut store, i, "grow_memory", &[Val::I32(2)]).unwrap(), 1);
        assert_eq!(call_i32(&mut store, i, "grow_memory", &[Val::I32(1)]).unwrap(), -1);
        assert_eq!(call_i32(&mut store, i, "grow_table", &[Val::I32(9)]).unwrap(), 1);
        assert_eq!(call_i32(&mut store, i, "grow_table", &[Val::I32(1)]).unwrap(), -1);
        let memory = i.get_memory(&mut store, "m").unwrap();
        let err = memory.grow(&mut store, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
        assert_eq!(memory.size(&store).unwrap(), 3);
        // A second instance fits; a host memory would be the third memory.
        Instance::new(&mut store, &module, &[]).unwrap();
        let err = Memory::new(&mut store, MemoryType { min: 1, max: None }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
        let err = Instance::new(&mut store, &module, &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
        assert!(err.message().contains("2 instances"), "{}", err.message());
        // A minimum past the memory limit is refused before anything is taken.
        let big = Module::new(&engine, &wat::parse_str("(module (memory 4))").unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        store.limiter(StoreLimitsBuilder::new().memory_size(3 << 16).build());
        let err = Instance::new(&mut store, &big, &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Limit, "{}", err.message());
        assert!(err.message().contains("262144 bytes"), "{}", err.message());
        // trap_on_grow_failure: growth past the limit traps instead.
        let mut store = Store::new(&engine, ());
        store.limiter(
            StoreLimitsBuilder::new().memory_size(2 << 16).trap_on_grow_failure(true).build(),
        );
        let i = Instance::new(&mut store, &module, &[]).unwrap();
        let err = call_i32(&mut store, i, "grow_memory", &[Val::I32(5)]).unwrap_err();
        let trap = err.trap().expect("a trap");
        assert_eq!(trap.code(), TrapCode::Host);
        assert!(trap.to_string().contains("limit"), "{trap}");
        assert_eq!(call_i32(&mut store, i, "grow_memory", &[Val::I32(1)]).unwrap(), 1);
    }
}

/// A limiter of the host's own: refuses every growth, counts the requests.
struct Refuser {
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ResourceLimiter for Refuser {
    fn memory_growing(&mut self, current: usize, _: usize, _: Option<usize>) -> Result<bool, Trap> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(current == 0) // creation is fine, growth is not
    }

    fn table_growing(&mut self, current: usize, _: usize, _: Option<usize>) -> Result<bool, Trap> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(current == 0)
    }
}

#[test]
fn a_custom_limiter_decides_growth() {
    let engine = Engine::new(&Config::default()).unwrap();
    let module = Module::new(&engine, &wat::parse_str(GROWER).unwrap()).unwrap();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut store = Store::new(&engine, ());
    store.limiter(Refuser { asked: asked.clone() });
    let i = Instance::new(&mut store, &module, &[]).unwrap();
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 2, "memory and table created");
    assert_eq!(call_i32(&mut store, i, "grow_memory", &[Val::I32(1)]).unwrap(), -1);
    assert_eq!(call_i32(&mut store, i, "grow_table", &[Val::I32(1)]).unwrap(), -1);
    assert_eq!(call_i32(&mut store, i, "grow_memory", &[Val::I32(0)]).unwrap(), 1, "no growth");
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 4);
}

/// A small deterministic generator (xorshift; no dependency needed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn random_steps_under_a_tight_address_space_never_abort() {
    in_child("random_steps_under_a_tight_address_space_never_abort", || {
        // The limit is meant to refuse what guests and arguments size
        // (reservations, growth, large tables, compiler working memory), not
        // the small allocations every step makes: one malloc arena, and a
        // heap grown once and never trimmed, serve those from memory the
        // process already has.
        // SAFETY: mallopt only changes the allocator's tuning.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
        drop((0..2048).map(|_| vec![1u8; 32 << 10]).collect::<Vec<_>>());

        let pool = PoolingConfig {
            total_core_instances: 4,
            total_memories: 4,
            total_tables: 4,
            max_memory_size: 64 << 20,
            table_elements: 1 << 20,
            ..PoolingConfig::default()
        };
        let pooled = Engine::new_pooling(&Config::default(), &pool).unwrap();
        let small_reservations = Config {
            memory_reservation: 8 << 20,
            memory_guard_size: 64 << 10,
            max_table_elements: 50_000_000,
            ..Config::default()
        };
        let on_demand = Engine::new(&small_reservations).unwrap();
        let engines = [pooled, on_demand];
        let sources = [
            wat::parse_str(GROWER).unwrap(),
            wat::parse_str(RECURSE).unwrap(),
            wat::parse_str(r#"(module (memory 2) (data (i32.const 9) "data"))"#).unwrap(),
            // A 2 MiB body: its compiler working memory cannot fit.
            module_with_body(2 << 20),
        ];
        let limit = address_space_in_use() + (96 << 20);
        let lim = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: `lim` is a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);

        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut modules: Vec<Module> = Vec::new();
        let mut live: Vec<(Store<()>, Instance)> = Vec::new();
        let mut counts = std::collections::BTreeMap::<&str, u32>::new();
        let mut count = |what: &'static str| *counts.entry(what).or_default() += 1;
        for _ in 0..3000 {
            match rng.below(6) {
                0 => {
                    let engine = &engines[rng.below(2) as usize];
                    match Module::new(engine, &sources[rng.below(4) as usize]) {
                        Ok(m) => {
                            count("compiled");
                            if modules.len() < 8 {
                                modules.push(m);
                            }
                        }
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::Resource | ErrorKind::Limit),
                                "{e:?}"
                            );
                            count("compile refused");
                        }
                    }
                }
                1 | 2 if !modules.is_empty() => {
                    let m = modules[rng.below(modules.len() as u64) as usize].clone();
                    if m.exports().iter().all(|(n, _)| n != "grow_memory") {
                        continue;
                    }
                    let mut store = Store::new(m.engine(), ());
                    match Instance::new(&mut store, &m, &[]) {
                        Ok(i) => {
                            count("instantiated");
                            live.push((store, i));
                            if live.len() > 3 {
                                live.remove(0);
                            }
                        }
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::Resource | ErrorKind::PoolExhausted),
                                "{e:?}"
                            );
                            count("instantiation refused");
                        }
                    }
                }
                3 | 4 if !live.is_empty() => {
                    let k = rng.below(live.len() as u64) as usize;
                    let (store, i) = &mut live[k];
                    let (func, delta) = if rng.below(2) == 0 {
                        ("grow_memory", 1 + rng.below(1500) as i32)
                    } else {
                        ("grow_table", 1 + rng.below(30_000_000) as i32)
                    };
                    match call_i32(store, *i, func, &[Val::I32(delta)]).unwrap() {
                        -1 => count("growth refused"),
                        _ => count("grown"),
                    }
                }
                _ => {
                    if !live.is_empty() {
                        live.remove(rng.below(live.len() as u64) as usize);
                    }
                }
            }
        }
        for what in ["compiled", "compile refused", "instantiated", "grown", "growth refused"] {
            assert!(counts.get(what).is_some_and(|&n| n > 0), "no `{what}` in {counts:?}");
        }
        println!("{counts:?}");
        // Once the limit is lifted, both engines work as before.
        drop(live);
        let lim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
        for engine in &engines {
            let m = Module::new(engine, &sources[0]).unwrap();
            let mut store = Store::new(engine, ());
            let i = Instance::new(&mut store, &m, &[]).unwrap();
            assert_eq!(call_i32(&mut store, i, "grow_memory", &[Val::I32(1)]).unwrap(), 1);
        }
    });
}
