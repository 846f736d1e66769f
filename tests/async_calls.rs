//! Resumable calls: suspension at epoch deadlines, fuel intervals and async
//! host functions; resuming on the same and another thread; traps, stack
//! overflow and abandonment on a fiber; the pool's stack slots (metrics,
//! zeroing, exhaustion).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use wasmpool::*;

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `future` until it is ready, returning the output and the number of
/// polls that returned `Pending`.
fn run<F: Future>(future: F) -> (F::Output, usize) {
    let mut future = std::pin::pin!(future);
    let mut pending = 0;
    loop {
        match poll_once(future.as_mut()) {
            Poll::Ready(v) => return (v, pending),
            Poll::Pending => pending += 1,
        }
    }
}

fn pool(n: u32) -> PoolingConfig {
    PoolingConfig {
        total_core_instances: n,
        total_memories: 4,
        total_tables: 4,
        total_stacks: n,
        max_memory_size: 1 << 20,
        table_elements: 100,
        max_core_instance_size: 64 << 10,
        ..PoolingConfig::default()
    }
}

fn async_config() -> Config {
    Config {
        async_support: true,
        async_stack_size: 256 << 10,
        max_wasm_stack: 128 << 10,
        epoch_interruption: true,
        consume_fuel: false,
        ..Config::default()
    }
}

fn pooled(n: u32) -> Engine {
    Engine::new_pooling(&async_config(), &pool(n)).unwrap()
}

/// Sums 1..=n in a loop: runs long enough to cross many epoch deadlines.
const SUM: &str = r#"(module
    (func (export "sum") (param $n i64) (result i64) (local $acc i64)
      (block $done (loop $top
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $top)))
      (local.get $acc))
    (func $deep (export "deep") (param i32) (result i32)
      (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
    (func (export "trap_after") (param $n i64)
      (block $done (loop $top
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $top)))
      unreachable))"#;

fn setup(engine: &Engine) -> (Store<()>, Instance) {
    let module = Module::new(engine, &wat::parse_str(SUM).unwrap()).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, &module).unwrap();
    // Every check of the deadline finds it passed: each loop iteration yields.
    store.set_epoch_deadline(0);
    store.epoch_deadline_async_yield_and_update(0);
    (store, instance)
}

#[test]
fn a_suspended_call_resumes_to_the_right_result() {
    let engine = pooled(4);
    let (mut store, instance) = setup(&engine);
    let sum = instance.get_func(&mut store, "sum").unwrap();
    let mut results = [Val::I64(0)];
    let (r, pending) = run(sum.call_async(&mut store, &[Val::I64(1000)], &mut results));
    r.unwrap();
    assert_eq!(results[0], Val::I64(500_500));
    assert!(pending >= 1000, "one suspension per loop iteration, got {pending}");
    assert_eq!(engine.pool_metrics().unwrap().stacks, 0, "the stack went back");
    // The store is usable afterwards, synchronously too (no yield there).
    sum.call(&mut store, &[Val::I64(10)], &mut results).unwrap();
    assert_eq!(results[0], Val::I64(55));
}

#[test]
fn a_suspended_call_resumes_on_another_thread() {
    let engine = pooled(4);
    let (mut store, instance) = setup(&engine);
    let sum = instance.get_func(&mut store, "sum").unwrap();
    let mut results = [Val::I64(0)];
    {
        let mut future = Box::pin(sum.call_async(&mut store, &[Val::I64(100)], &mut results));
        for _ in 0..10 {
            assert!(poll_once(future.as_mut()).is_pending());
        }
        // Finish it on another thread, then suspend it there and come back.
        let mut future = std::thread::scope(|s| {
            s.spawn(move || {
                for _ in 0..10 {
                    assert!(poll_once(future.as_mut()).is_pending());
                }
                future
            })
            .join()
            .unwrap()
        });
        let (r, _) = run(future.as_mut());
        r.unwrap();
    }
    assert_eq!(results[0], Val::I64(5050));
    // Traps on this thread after the fiber moved still land where they should.
    let deep = instance.get_func(&mut store, "deep").unwrap();
    let err = deep.call(&mut store, &[Val::I32(0)], &mut [Val::I32(0)]).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::StackOverflow);
}

#[test]
fn ten_thousand_calls_suspended_at_once_then_all_resumed() {
    const N: usize = 10_000;
    let config = Config { async_stack_size: 64 << 10, max_wasm_stack: 16 << 10, ..async_config() };
    let pool = PoolingConfig { max_core_instance_size: 4096, ..pool(N as u32) };
    let engine = Engine::new_pooling(&config, &pool).unwrap();
    let module = Module::new(&engine, &wat::parse_str(SUM).unwrap()).unwrap();
    let mut stores = Vec::with_capacity(N);
    for _ in 0..N {
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        store.set_epoch_deadline(0);
        store.epoch_deadline_async_yield_and_update(0);
        let sum = instance.get_func(&mut store, "sum").unwrap();
        stores.push((store, sum, [Val::I64(0)]));
    }
    let args: Vec<[Val; 1]> = (0..N).map(|i| [Val::I64(i as i64 % 7 + 3)]).collect();
    let mut futures: Vec<_> = stores
        .iter_mut()
        .enumerate()
        .zip(&args)
        .map(|((_, (store, sum, results)), args)| Box::pin(sum.call_async(store, args, results)))
        .collect();
    for f in &mut futures {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    let m = engine.pool_metrics().unwrap();
    assert_eq!(m.stacks, N as u64, "every call holds a stack while suspended");
    for f in &mut futures {
        run(f.as_mut()).0.unwrap();
    }
    drop(futures);
    for (i, (_, _, results)) in stores.iter().enumerate() {
        let n = i as i64 % 7 + 3;
        assert_eq!(results[0], Val::I64(n * (n + 1) / 2));
    }
    let m = engine.pool_metrics().unwrap();
    assert_eq!(m.stacks, 0);
    assert_eq!(m.unused_warm_stacks, N as u64);
}

#[test]
fn stack_overflow_on_a_fiber_traps_and_the_stack_goes_back() {
    for engine in [pooled(2), Engine::new(&async_config()).unwrap()] {
        let (mut store, instance) = setup(&engine);
        let deep = instance.get_func(&mut store, "deep").unwrap();
        let mut results = [Val::I32(0)];
        let (r, _) = run(deep.call_async(&mut store, &[Val::I32(0)], &mut results));
        let err = r.unwrap_err();
        let trap = err.trap().expect("a trap");
        assert_eq!(trap.code(), TrapCode::StackOverflow);
        assert!(!trap.frames().is_empty(), "the backtrace walk works on a fiber");
        if let Some(m) = engine.pool_metrics() {
            assert_eq!(m.stacks, 0);
        }
    }
}

#[test]
fn the_stack_limit_comes_from_the_fiber_stack() {
    // A wasm stack budget larger than the fiber's stack: the floor is the
    // fiber stack's bottom plus the reserve, so recursion still traps.
    let config = Config { async_stack_size: 128 << 10, max_wasm_stack: 8 << 20, ..async_config() };
    let engine = Engine::new_pooling(&config, &pool(2)).unwrap();
    let (mut store, instance) = setup(&engine);
    let deep = instance.get_func(&mut store, "deep").unwrap();
    let (r, _) = run(deep.call_async(&mut store, &[Val::I32(0)], &mut [Val::I32(0)]));
    assert_eq!(r.unwrap_err().trap().unwrap().code(), TrapCode::StackOverflow);
}

#[test]
fn a_trap_after_suspending_and_resuming() {
    let engine = pooled(2);
    let (mut store, instance) = setup(&engine);
    let f = instance.get_func(&mut store, "trap_after").unwrap();
    let (r, pending) = run(f.call_async(&mut store, &[Val::I64(50)], &mut []));
    assert!(pending >= 50);
    let err = r.unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::Unreachable);
    assert_eq!(err.trap().unwrap().frames()[0].func_index(), 2);
    assert_eq!(engine.pool_metrics().unwrap().stacks, 0);
}

#[test]
fn dropping_an_unfinished_call_frees_everything() {
    let engine = pooled(2);
    {
        let (mut store, instance) = setup(&engine);
        let sum = instance.get_func(&mut store, "sum").unwrap();
        let mut results = [Val::I64(0)];
        let mut future = Box::pin(sum.call_async(&mut store, &[Val::I64(1 << 40)], &mut results));
        for _ in 0..5 {
            assert!(poll_once(future.as_mut()).is_pending());
        }
        assert_eq!(engine.pool_metrics().unwrap().stacks, 1);
        drop(future);
        assert_eq!(engine.pool_metrics().unwrap().stacks, 0);
        // The store is usable again.
        sum.call(&mut store, &[Val::I64(4)], &mut results).unwrap();
        assert_eq!(results[0], Val::I64(10));
    }
    let m = engine.pool_metrics().unwrap();
    assert_eq!((m.stacks, m.core_instances, m.memories, m.tables), (0, 0, 0, 0));
}

#[test]
fn a_full_stack_pool_is_pool_exhausted() {
    let pool = PoolingConfig { total_stacks: 2, ..pool(4) };
    let engine = Engine::new_pooling(&async_config(), &pool).unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(setup(&engine));
    }
    let funcs: Vec<Func> =
        held.iter_mut().map(|(s, i)| i.get_func(&mut *s, "sum").unwrap()).collect();
    let mut results = [[Val::I64(0)]; 3];
    let mut it = held.iter_mut().zip(&funcs).zip(results.iter_mut());
    let mut futures = Vec::new();
    for _ in 0..2 {
        let (((store, _), f), r) = it.next().unwrap();
        let mut fut = Box::pin(f.call_async(store, &[Val::I64(1000)], r));
        assert!(poll_once(fut.as_mut()).is_pending());
        futures.push(fut);
    }
    let (((store, _), f), r) = it.next().unwrap();
    let (out, _) = run(f.call_async(store, &[Val::I64(1)], r));
    let err = out.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted);
    assert!(err.message().contains("total_stacks"), "{}", err.message());
    drop(futures);
    assert_eq!(engine.pool_metrics().unwrap().stacks, 0);
}

/// Writes a marker into a buffer on the calling fiber's stack and records
/// its address.
fn scribbling_linker(engine: &Engine, at: Arc<AtomicUsize>) -> Linker<()> {
    let mut linker = Linker::new(engine);
    linker
        .func_new("host", "scribble", FuncType::new([], []), move |_, _, _| {
            let mut buffer = [0u8; 4096];
            buffer.fill(0xab);
            std::hint::black_box(&mut buffer);
            at.store(buffer.as_ptr() as usize, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    linker
}

#[test]
fn with_zeroing_no_byte_of_a_previous_call_stays_on_the_stack() {
    const WAT: &str =
        r#"(module (import "host" "scribble" (func $s)) (func (export "run") call $s))"#;
    for (zeroing, keep) in [(false, 0), (true, 0), (true, 64 << 10), (true, 1 << 20)] {
        let pool = PoolingConfig {
            async_stack_zeroing: zeroing,
            async_stack_keep_resident: keep,
            ..pool(2)
        };
        let engine = Engine::new_pooling(&async_config(), &pool).unwrap();
        let at = Arc::new(AtomicUsize::new(0));
        let linker = scribbling_linker(&engine, at.clone());
        let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let f = instance.get_func(&mut store, "run").unwrap();
        for _ in 0..2 {
            run(f.call_async(&mut store, &[], &mut [])).0.unwrap();
            let addr = at.load(Ordering::SeqCst);
            // SAFETY: the buffer was on a stack of the pool, which stays
            // mapped readable and writable while the engine lives; no call
            // runs now.
            let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, 4096) };
            if zeroing {
                assert!(bytes.iter().all(|&b| b == 0), "zeroing {keep}: a byte survived");
            } else {
                // Later frames of the call may reuse some of it; most stays.
                let left = bytes.iter().filter(|&&b| b == 0xab).count();
                assert!(left > 2048, "without zeroing the bytes stay ({left} left)");
            }
        }
        let m = engine.pool_metrics().unwrap();
        assert_eq!(m.unused_warm_stacks, 1);
        if zeroing {
            assert!(m.unused_stack_bytes_resident <= keep as u64);
            if keep >= 64 << 10 {
                assert!(m.unused_stack_bytes_resident >= 4096, "the used top stays resident");
            }
        } else {
            assert!(m.unused_stack_bytes_resident >= 4096);
        }
    }
}

/// A future that is pending `n` times (waking its waker each time), then ready.
struct PendingFor(usize);

impl Future for PendingFor {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn an_async_host_function_suspends_the_call_while_pending() {
    const WAT: &str = r#"(module (import "host" "wait" (func $w (param i32) (result i32)))
        (func (export "run") (param i32) (result i32)
          (i32.add (call $w (local.get 0)) (i32.const 1)))
        (func (export "trap") unreachable))"#;
    let engine = Engine::new(&async_config()).unwrap();
    let mut linker = Linker::<u32>::new(&engine);
    linker
        .func_new_async(
            "host",
            "wait",
            FuncType::new([ValType::I32], [ValType::I32]),
            |mut caller, params, results| {
                Box::new(async move {
                    let Val::I32(n) = params[0] else { unreachable!("an i32 parameter") };
                    PendingFor(n as usize).await;
                    *caller.data_mut() += 1;
                    results[0] = Val::I32(n * 2);
                    Ok(())
                })
            },
        )
        .unwrap();
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine, 0u32);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&mut store, "run").unwrap();
    let mut results = [Val::I32(0)];
    let (r, pending) = run(f.call_async(&mut store, &[Val::I32(5)], &mut results));
    r.unwrap();
    assert_eq!((results[0], pending, *store.data()), (Val::I32(11), 5, 1));
    // Called synchronously, an async host function traps.
    let err = f.call(&mut store, &[Val::I32(1)], &mut results).unwrap_err();
    assert!(err.to_string().contains("outside a resumable call"), "{err}");
    // Abandoned while the host future is pending: the call unwinds.
    let mut future = Box::pin(f.call_async(&mut store, &[Val::I32(100)], &mut results));
    assert!(poll_once(future.as_mut()).is_pending());
    drop(future);
    assert_eq!(*store.data(), 1, "the host function did not complete");
}

#[test]
fn a_fuel_yield_interval_suspends_every_n_units() {
    let config = Config { consume_fuel: true, epoch_interruption: false, ..async_config() };
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, &wat::parse_str(SUM).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    store.set_fuel(1_000_000).unwrap();
    store.fuel_async_yield_interval(Some(1000)).unwrap();
    assert_eq!(store.get_fuel().unwrap(), 1_000_000);
    let sum = instance.get_func(&mut store, "sum").unwrap();
    let mut results = [Val::I64(0)];
    let (r, pending) = run(sum.call_async(&mut store, &[Val::I64(10_000)], &mut results));
    r.unwrap();
    assert_eq!(results[0], Val::I64(50_005_000));
    let used = 1_000_000 - store.get_fuel().unwrap();
    assert!(used > 10_000, "{used}");
    let expected = used / 1000;
    assert!(
        pending as u64 >= expected - 1 && pending as u64 <= expected + 1,
        "{pending} vs {used}"
    );
    // Running out still traps.
    store.set_fuel(500).unwrap();
    let (r, _) = run(sum.call_async(&mut store, &[Val::I64(10_000)], &mut results));
    assert_eq!(r.unwrap_err().trap().unwrap().code(), TrapCode::OutOfFuel);
}

#[test]
fn instantiation_can_suspend_in_the_start_function() {
    const WAT: &str = r#"(module (global $g (mut i32) (i32.const 0))
        (func $start (local i32)
          (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                (br_if 0 (i32.lt_u (local.get 0) (i32.const 20))))
          (global.set $g (local.get 0)))
        (start $start)
        (func (export "g") (result i32) global.get $g))"#;
    let engine = pooled(2);
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(0);
    store.epoch_deadline_async_yield_and_update(0);
    let pre = Linker::new(&engine).instantiate_pre(&module).unwrap();
    let (instance, pending) = run(pre.instantiate_async(&mut store));
    let instance = instance.unwrap();
    assert!(pending >= 20);
    let mut results = [Val::I32(0)];
    instance.get_func(&mut store, "g").unwrap().call(&mut store, &[], &mut results).unwrap();
    assert_eq!(results[0], Val::I32(20));
    let (again, _) = run(Instance::new_async(&mut store, &module, &[]));
    again.unwrap();
}

#[test]
fn resumable_calls_need_async_support() {
    let engine = Engine::new(&Config::default()).unwrap();
    let (mut store, instance) = setup(&engine);
    let sum = instance.get_func(&mut store, "sum").unwrap();
    let (r, _) = run(sum.call_async(&mut store, &[Val::I64(1)], &mut [Val::I64(0)]));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let engine = pooled(1);
    let (mut store, instance) = setup(&engine);
    let sum = instance.get_func(&mut store, "sum").unwrap();
    let mut results = [Val::I64(0)];
    let future = sum.call_async(&mut store, &[Val::I64(1)], &mut results);
    send(&future);
}
