//! Hostile input and hostile execution: mangled modules never crash the
//! front end or the compiler, stack overflow traps cleanly while another
//! thread keeps computing, and a host's own SIGSEGV handler still sees faults
//! that are not ours.

use wasmpool::*;

fn workload(name: &str) -> Vec<u8> {
    wat::parse_file(format!("{}/workloads/{name}.wat", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A small deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mangled_modules_are_errors_never_crashes() {
    let engine = Engine::new(&Config::default()).unwrap();
    let seeds: Vec<Vec<u8>> =
        ["inst-empty", "inst-globals", "exec-fib", "exec-interp", "exec-memops", "exec-crc32"]
            .iter()
            .map(|n| workload(n))
            .collect();
    let mut tried = 0;
    let mut accepted = 0;
    let mut check = |bytes: &[u8]| {
        tried += 1;
        match Module::new(&engine, bytes) {
            Ok(_) => accepted += 1,
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::InvalidModule | ErrorKind::Unsupported),
                "unexpected error kind {:?}: {}",
                e.kind(),
                e.message()
            ),
        }
    };
    // Every prefix of every seed.
    for seed in &seeds {
        for len in 0..seed.len() {
            check(&seed[..len]);
        }
    }
    // Random byte flips and insertions.
    let mut rng = Rng(0x243f_6a88_85a3_08d3);
    for _ in 0..3000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            if rng.next().is_multiple_of(2) {
                bytes[at] ^= 1 << rng.below(8);
            } else {
                bytes.insert(at, rng.next() as u8);
            }
        }
        check(&bytes);
    }
    assert!(tried > 5000, "{tried} modules tried");
    assert!(accepted > 0, "some mutations stay valid and compile");
}

#[test]
fn stack_overflow_traps_while_another_thread_computes() {
    let engine = Engine::new(&Config::default()).unwrap();
    let wasm = wat::parse_str(
        r#"(module
            (func $down (export "down") (param i64) (result i64) (i64.add (call $down (local.get 0)) (i64.const 1)))
            (func $fib (export "fib") (param i64) (result i64)
              (if (result i64) (i64.lt_u (local.get 0) (i64.const 2)) (then (local.get 0))
                (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1))) (call $fib (i64.sub (local.get 0) (i64.const 2))))))))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    std::thread::scope(|s| {
        let trapper = s.spawn(|| {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let down =
                instance.get_func(&mut store, "down").unwrap().typed::<i64, i64>(&store).unwrap();
            let fib =
                instance.get_func(&mut store, "fib").unwrap().typed::<i64, i64>(&store).unwrap();
            for _ in 0..200 {
                let err = down.call(&mut store, 1).unwrap_err();
                assert_eq!(err.trap().unwrap().code(), TrapCode::StackOverflow);
                assert_eq!(fib.call(&mut store, 10).unwrap(), 55, "the same store keeps working");
            }
        });
        let computer = s.spawn(|| {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let fib =
                instance.get_func(&mut store, "fib").unwrap().typed::<i64, i64>(&store).unwrap();
            for _ in 0..20 {
                assert_eq!(fib.call(&mut store, 25).unwrap(), 75025);
            }
        });
        trapper.join().unwrap();
        computer.join().unwrap();
    });
}

const CHILD_ENV: &str = "WASMPOOL_SIGSEGV_CHILD";

extern "C" fn host_segv_handler(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(42) };
}

/// In a child process: install a SIGSEGV handler before any engine exists,
/// use the engine (including a wasm trap), then fault outside wasm.
fn sigsegv_child() -> ! {
    // SAFETY: installing a plain handler for SIGSEGV; the handler only exits.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = host_segv_handler as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut()), 0);
    }
    let engine = Engine::new(&Config::default()).unwrap();
    let wasm = wat::parse_str(
        r#"(module (memory 1) (func (export "oob") (result i32) (i32.load (i32.const 70000))))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let oob = instance.get_func(&mut store, "oob").unwrap().typed::<(), i32>(&store).unwrap();
    let err = oob.call(&mut store, ()).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::MemoryOutOfBounds, "wasm faults are ours");
    // SAFETY: deliberately faulting outside wasm: the host handler must see it.
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u32>(), 1) };
    std::process::exit(1);
}

#[test]
fn a_fault_outside_wasm_reaches_the_hosts_own_handler() {
    if std::env::var_os(CHILD_ENV).is_some() {
        sigsegv_child();
    }
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args(["--exact", "a_fault_outside_wasm_reaches_the_hosts_own_handler", "--nocapture"])
        .env(CHILD_ENV, "1")
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(42),
        "the host's SIGSEGV handler ran and exited with 42: {status:?}"
    );
}
