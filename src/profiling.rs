//! Profiler support: telling a sampling profiler which machine code is which
//! wasm function.
//!
//! Compiled wasm lives in anonymous executable mappings that no symbol table
//! describes, so `perf` shows its samples as bare addresses. With
//! [`ProfilingStrategy::PerfMap`], every piece of code an engine publishes
//! (each wasm function, each array-call trampoline, each host-function stub)
//! is appended to `/tmp/perf-<pid>.map`, perf's JIT map, one line per
//! function as soon as its code is executable:
//!
//! ```text
//! 7f3a1c2b4000 5e demo!div
//! 7f3a1c2b4060 2a wasm-trampoline[array-call] demo!main
//! ```
//!
//! `START SIZE name`, start and size in hex without `0x`; `perf report` then
//! attributes samples to those names. A function is named `module!function`
//! from the module's name section (just `function` when the module has no
//! name, `wasm function N` when the function has none).
//!
//! One file per process, opened (and truncated, in case an earlier process
//! had the same pid) when the first engine that profiles is created, shared
//! by every engine behind one lock: modules compile on several threads and
//! several may publish at once, and each publishes its lines in one write
//! under the lock. A forked child opens its own file. Entries are never
//! removed: perf reads the map after the process has exited, and a later
//! module that reuses an address range appends lines that supersede the
//! earlier ones.

use std::fs::File;
use std::io::Write;

use parking_lot::Mutex;

use crate::compile::code_memory::CodeMemory;
use crate::error::{Error, ErrorKind, Result};

/// How an engine makes compiled code visible to profilers
/// ([`Config::profiler`](crate::Config::profiler)). The discriminants are
/// the C ABI's `WASMPOOL_PROFILER_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProfilingStrategy {
    /// No profiler support (the default without `WASMPOOL_PROFILE`).
    #[default]
    None = 0,
    /// Append every published function to perf's JIT map,
    /// `/tmp/perf-<pid>.map`.
    PerfMap = 1,
}

impl ProfilingStrategy {
    /// The name of the environment variable that chooses the default:
    /// `WASMPOOL_PROFILE=perfmap` makes [`ProfilingStrategy::PerfMap`] the
    /// default of every new [`Config`](crate::Config); any other value, or
    /// none, leaves [`ProfilingStrategy::None`].
    pub const ENV: &'static str = "WASMPOOL_PROFILE";

    /// The default, from [`ProfilingStrategy::ENV`].
    pub fn from_env() -> ProfilingStrategy {
        match std::env::var_os(Self::ENV) {
            Some(value) if value == "perfmap" => ProfilingStrategy::PerfMap,
            _ => ProfilingStrategy::None,
        }
    }

    /// The strategy with the given C ABI value, if there is one.
    pub fn from_raw(raw: u8) -> Option<ProfilingStrategy> {
        match raw {
            0 => Some(ProfilingStrategy::None),
            1 => Some(ProfilingStrategy::PerfMap),
            _ => None,
        }
    }
}

/// The process's perf map: the pid it was opened for, and the file.
static PERF_MAP: Mutex<Option<(u32, File)>> = Mutex::new(None);

/// The perf map's path for process `pid`.
pub(crate) fn perf_map_path(pid: u32) -> String {
    format!("/tmp/perf-{pid}.map")
}

/// Opens this process's perf map unless it is open already. Engine creation
/// calls it, so that a map that cannot be written is an error there
/// (`ErrorKind::Resource`), not a silent gap later.
pub(crate) fn open_perf_map() -> Result<()> {
    let pid = std::process::id();
    let mut map = PERF_MAP.lock();
    if map.as_ref().is_some_and(|(owner, _)| *owner == pid) {
        return Ok(());
    }
    let path = perf_map_path(pid);
    let file = File::create(&path).map_err(|e| {
        Error::new(ErrorKind::Resource, format!("creating the perf map {path} failed: {e}"))
    })?;
    *map = Some((pid, file));
    Ok(())
}

/// Appends every function of `code` to the perf map, named by `name` (given
/// a function's key). Best effort: the engine opened the map when it was
/// created, and a failed write loses profiler names, nothing else.
pub(crate) fn publish(code: &CodeMemory, name: impl Fn((u32, u32)) -> String) {
    let mut lines = String::new();
    for (key, start, len) in code.functions() {
        lines.push_str(&format!("{:x} {len:x} {}\n", start as usize, name(key)));
    }
    let mut map = PERF_MAP.lock();
    if let Some((pid, file)) = map.as_mut()
        && *pid == std::process::id()
    {
        let _ = file.write_all(lines.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Engine, Linker, Module, Store};

    /// The lines of this process's perf map: (start, size, name).
    fn read_map() -> Vec<(usize, usize, String)> {
        let text = std::fs::read_to_string(perf_map_path(std::process::id())).unwrap();
        text.lines()
            .map(|line| {
                let mut parts = line.splitn(3, ' ');
                let mut hex = || usize::from_str_radix(parts.next().unwrap(), 16).unwrap();
                let (start, size) = (hex(), hex());
                (start, size, parts.next().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn the_perf_map_names_each_function_at_its_code() {
        // A module name no other run of this test shares, so that lines of
        // an earlier process with the same pid cannot match.
        let tag =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let wat = format!(
            r#"(module $prof{tag}
                (import "env" "h" (func $h (param i32) (result i32)))
                (func $add (export "add") (param i32) (result i32)
                  (i32.add (local.get 0) (i32.const 1)))
                (func $twice (export "twice") (param i32) (result i32)
                  (call $add (call $add (local.get 0))))
                (func (export "anon") (param i32) (result i32) (call $h (local.get 0))))"#
        );
        let config = Config { profiler: ProfilingStrategy::PerfMap, ..Config::default() };
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, &wat::parse_str(&wat).unwrap()).unwrap();
        let mut linker = Linker::<()>::new(&engine);
        let ty = crate::FuncType::new([crate::ValType::I32], [crate::ValType::I32]);
        linker.func_new("env", "h", ty, |_, _, _| Ok(())).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = linker.instantiate(&mut store, &module).unwrap();

        let map = read_map();
        let line = |name: &str| {
            let found: Vec<_> = map.iter().filter(|(_, _, n)| n == name).collect();
            assert_eq!(found.len(), 1, "one line named {name:?} in {map:?}");
            (found[0].0, found[0].1)
        };
        for (export, symbol) in [
            ("add", format!("prof{tag}!add")),
            ("twice", format!("prof{tag}!twice")),
            ("anon", format!("prof{tag}!wasm function 3")),
        ] {
            let func = instance.get_func(&mut store, export).unwrap();
            // SAFETY: the funcref belongs to the live `store`.
            let funcref = unsafe { *func.funcref.as_ptr() };
            let (start, size) = line(&symbol);
            assert_eq!(start, funcref.wasm_call as usize, "{symbol} starts at its code");
            assert!(size > 0);
            let (start, size) = line(&format!("wasm-trampoline[array-call] {symbol}"));
            assert_eq!(start, funcref.array_call as usize);
            assert!(size > 0);
        }
        // The host function's stub, by signature.
        let stub = map.iter().filter(|(_, _, n)| n.starts_with("wasm-trampoline[host-stub]"));
        assert!(stub.count() >= 1, "{map:?}");

        // Modules compiled on several threads at once (each in parallel
        // itself) publish whole lines: every line parses (`read_map`
        // panics otherwise), and each thread's functions are there once.
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let engine = &engine;
                scope.spawn(move || {
                    let funcs: String = (0..16).map(|i| format!("(func $f{i})")).collect();
                    let wat = format!("(module $par{tag}_{thread} {funcs})");
                    Module::new(engine, &wat::parse_str(&wat).unwrap()).unwrap();
                });
            }
        });
        let map = read_map();
        for thread in 0..4 {
            for i in 0..16 {
                let name = format!("par{tag}_{thread}!f{i}");
                assert_eq!(map.iter().filter(|(_, _, n)| *n == name).count(), 1, "{name}");
            }
        }
        // No other test of this process profiles: leave no file behind.
        let _ = std::fs::remove_file(perf_map_path(std::process::id()));
    }

    /// Tells [`env_child`] what `WASMPOOL_PROFILE` should have given.
    const EXPECT_ENV: &str = "WASMPOOL_TEST_EXPECT_PROFILER";

    #[test]
    fn the_environment_chooses_the_default() {
        assert_eq!(ProfilingStrategy::from_raw(1), Some(ProfilingStrategy::PerfMap));
        assert_eq!(ProfilingStrategy::from_raw(2), None);
        let child_test = format!("{}::env_child", module_path!().split_once("::").unwrap().1);
        for (value, expected) in
            [(Some("perfmap"), "perfmap"), (Some("jitdump"), "none"), (None, "none")]
        {
            let mut command = std::process::Command::new(std::env::current_exe().unwrap());
            command.args(["--exact", &child_test, "--ignored", "--test-threads=1"]);
            command.env(EXPECT_ENV, expected).env_remove(ProfilingStrategy::ENV);
            if let Some(value) = value {
                command.env(ProfilingStrategy::ENV, value);
            }
            let output = command.output().expect("run the test binary");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "{value:?}: {output:?}");
            assert!(stdout.contains("1 passed"), "{value:?}: the child ran: {stdout}");
        }
    }

    #[test]
    #[ignore = "run by the_environment_chooses_the_default, in a child process"]
    fn env_child() {
        let Ok(expected) = std::env::var(EXPECT_ENV) else { return };
        let path = perf_map_path(std::process::id());
        let _ = std::fs::remove_file(&path);
        // A default configuration, as a C host gets from wasmpool_config_new.
        let engine = Engine::new(&Config::default()).unwrap();
        let wasm = wat::parse_str("(module $envtest (func $f))").unwrap();
        let _module = Module::new(&engine, &wasm).unwrap();
        let map = std::fs::read_to_string(&path);
        let _ = std::fs::remove_file(&path);
        match expected.as_str() {
            "perfmap" => {
                assert_eq!(Config::default().profiler, ProfilingStrategy::PerfMap);
                assert!(map.unwrap().contains(" envtest!f\n"));
            }
            _ => {
                assert_eq!(Config::default().profiler, ProfilingStrategy::None);
                assert!(map.is_err(), "no perf map without the profiler");
            }
        }
    }
}
