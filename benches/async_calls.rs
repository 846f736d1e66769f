//! Resumable calls, side by side in one run, on one pooled engine each:
//! - a call of a trivial function directly (`Func::call`) and through the
//!   async path (`Func::call_async`, polled once to completion);
//! - one suspend-and-resume (a loop of N iterations that yields at every
//!   iteration, against the same loop without yielding, per iteration);
//! - stack slot reuse: minor page faults per async call whose host function
//!   touches 16 KiB of its stack, with zeroing and keep-resident 0, with
//!   zeroing and keep-resident 64 KiB, and without zeroing.
//!
//! `cargo bench --bench async_calls`

use std::future::Future;
use std::time::Instant;
use wasmpool::*;

const WAT: &str = r#"(module (import "host" "touch" (func $t))
    (func (export "nop") (param i32) (result i32) (local.get 0))
    (func (export "touch") call $t)
    (func (export "spin") (param $n i64)
      (block $done (loop $top
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $top)))))"#;

fn block_on<F: Future>(future: F) -> (F::Output, u64) {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut pending = 0;
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return (v, pending);
        }
        pending += 1;
    }
}

fn minor_faults() -> i64 {
    // SAFETY: `getrusage` fills the zeroed struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_minflt
    }
}

struct Setup {
    engine: Engine,
    store: Store<()>,
    instance: Instance,
}

fn setup(zeroing: bool, keep: usize) -> Setup {
    let config = Config { async_support: true, epoch_interruption: true, ..Config::default() };
    let pool = PoolingConfig {
        total_core_instances: 4,
        total_memories: 4,
        total_tables: 4,
        total_stacks: 4,
        max_memory_size: 1 << 16,
        async_stack_zeroing: zeroing,
        async_stack_keep_resident: keep,
        ..PoolingConfig::default()
    };
    let engine = Engine::new_pooling(&config, &pool).unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_new("host", "touch", FuncType::new([], []), |_, _, _| {
            let mut buffer = [0u8; 16 << 10];
            for page in buffer.chunks_mut(4096) {
                page[0] = 1;
            }
            std::hint::black_box(&mut buffer);
            Ok(())
        })
        .unwrap();
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    Setup { engine, store, instance }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: u64 = if quick { 1000 } else { 200_000 };

    // Direct against async, same engine and store.
    let mut s = setup(false, 0);
    let nop = s.instance.get_func(&mut s.store, "nop").unwrap();
    let mut results = [Val::I32(0)];
    let mut direct = f64::MAX;
    let mut via_async = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for i in 0..n {
            nop.call(&mut s.store, &[Val::I32(i as i32)], &mut results).unwrap();
        }
        direct = direct.min(start.elapsed().as_secs_f64() * 1e9 / n as f64);
        let start = Instant::now();
        for i in 0..n {
            block_on(nop.call_async(&mut s.store, &[Val::I32(i as i32)], &mut results)).0.unwrap();
        }
        via_async = via_async.min(start.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    println!("call direct_ns={direct:.0} async_ns={via_async:.0} (+{:.0} ns)", via_async - direct);

    // One suspend-and-resume: a loop yielding at every iteration, against
    // the same loop with a deadline that never passes.
    let spin = s.instance.get_func(&mut s.store, "spin").unwrap();
    let iterations = n as i64;
    s.store.set_epoch_deadline(u64::MAX / 2);
    let start = Instant::now();
    block_on(spin.call_async(&mut s.store, &[Val::I64(iterations)], &mut [])).0.unwrap();
    let plain = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    s.store.set_epoch_deadline(0);
    s.store.epoch_deadline_async_yield_and_update(0);
    let start = Instant::now();
    let (r, pending) = block_on(spin.call_async(&mut s.store, &[Val::I64(iterations)], &mut []));
    r.unwrap();
    let yielding = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!(
        "suspend_resume_ns={:.0} (loop iteration {plain:.1} ns without, {yielding:.0} ns with a suspension each; {pending} suspensions)",
        yielding - plain
    );
    drop(s);

    // Stack slot reuse: faults per async call touching 16 KiB of stack.
    let calls = if quick { 100 } else { 20_000 };
    for (label, zeroing, keep) in [
        ("zeroing, keep_resident=0", true, 0),
        ("zeroing, keep_resident=64KiB", true, 64 << 10),
        ("no zeroing", false, 0),
    ] {
        let mut s = setup(zeroing, keep);
        let touch = s.instance.get_func(&mut s.store, "touch").unwrap();
        block_on(touch.call_async(&mut s.store, &[], &mut [])).0.unwrap();
        let faults = minor_faults();
        let start = Instant::now();
        for _ in 0..calls {
            block_on(touch.call_async(&mut s.store, &[], &mut [])).0.unwrap();
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / calls as f64;
        let per_call = (minor_faults() - faults) as f64 / calls as f64;
        let m = s.engine.pool_metrics().unwrap();
        println!(
            "stack reuse [{label}] faults_per_call={per_call:.2} call_ns={ns:.0} resident_bytes={}",
            m.unused_stack_bytes_resident
        );
    }
}
