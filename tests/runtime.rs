//! Runtime core behaviour through the Rust API: calls, traps, host
//! functions, memories, tables and globals.

use wasmpool::*;

fn setup(wat: &str) -> (Store<()>, Instance) {
    let engine = Engine::new(&Config::default()).unwrap();
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    (store, instance)
}

fn call(store: &mut Store<()>, instance: Instance, name: &str, args: &[Val]) -> Result<Vec<Val>> {
    let f = instance.get_func(store, name).expect("export exists");
    let mut results = vec![Val::I32(0); f.ty(store).results().len()];
    f.call(store, args, &mut results)?;
    Ok(results)
}

fn trap_code(r: Result<Vec<Val>>) -> TrapCode {
    let err = r.expect_err("expected a trap");
    assert_eq!(err.kind(), ErrorKind::Trap, "{}", err.message());
    err.trap().unwrap().code()
}

#[test]
fn arithmetic_and_control_flow() {
    let (mut s, i) = setup(
        r#"(module
            (func $fac (export "fac") (param i64) (result i64)
              (if (result i64) (i64.eqz (local.get 0))
                (then (i64.const 1))
                (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
            (func (export "swap") (param i32 i32) (result i32 i32) local.get 1 local.get 0)
            (func (export "sum") (param i32) (result i32) (local i32)
              (block (loop
                (br_if 1 (i32.eqz (local.get 0)))
                (local.set 1 (i32.add (local.get 1) (local.get 0)))
                (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                (br 0)))
              local.get 1)
            (func (export "pick") (param i32) (result i32)
              (block (block (block (br_table 0 1 2 (local.get 0))) (return (i32.const 10))) (return (i32.const 11)))
              i32.const 12))"#,
    );
    assert_eq!(
        call(&mut s, i, "fac", &[Val::I64(20)]).unwrap(),
        vec![Val::I64(2432902008176640000)]
    );
    assert_eq!(
        call(&mut s, i, "swap", &[Val::I32(1), Val::I32(2)]).unwrap(),
        vec![Val::I32(2), Val::I32(1)]
    );
    assert_eq!(call(&mut s, i, "sum", &[Val::I32(100)]).unwrap(), vec![Val::I32(5050)]);
    for (arg, want) in [(0, 10), (1, 11), (2, 12), (99, 12)] {
        assert_eq!(call(&mut s, i, "pick", &[Val::I32(arg)]).unwrap(), vec![Val::I32(want)]);
    }
}

#[test]
fn traps_come_back_as_values_and_the_store_stays_usable() {
    let (mut s, i) = setup(
        r#"(module (memory 1)
            (func (export "unreachable") unreachable)
            (func (export "oob") (result i32) (i32.load (i32.const 65535)))
            (func (export "div") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
            (func $rec (export "rec") (call $rec))
            (func (export "ok") (result i32) i32.const 7))"#,
    );
    for _ in 0..3 {
        let err = call(&mut s, i, "unreachable", &[]).unwrap_err();
        assert_eq!(
            err.trap().unwrap().function_index(),
            Some(0),
            "the address map names the function"
        );
        assert_eq!(trap_code(call(&mut s, i, "unreachable", &[])), TrapCode::Unreachable);
        assert_eq!(trap_code(call(&mut s, i, "oob", &[])), TrapCode::MemoryOutOfBounds);
        assert_eq!(
            trap_code(call(&mut s, i, "div", &[Val::I32(0)])),
            TrapCode::IntegerDivisionByZero
        );
        assert_eq!(trap_code(call(&mut s, i, "rec", &[])), TrapCode::StackOverflow);
        assert_eq!(call(&mut s, i, "ok", &[]).unwrap(), vec![Val::I32(7)]);
    }
}

#[test]
fn host_functions_receive_arguments_and_can_trap() {
    let engine = Engine::new(&Config::default()).unwrap();
    let mut linker = Linker::<Vec<i64>>::new(&engine);
    linker
        .func_new(
            "env",
            "log",
            FuncType::new([ValType::I64], [ValType::I64]),
            |mut caller, args, results| {
                let Val::I64(x) = args[0] else { unreachable!() };
                caller.data_mut().push(x);
                if x < 0 {
                    return Err(Trap::host("negative"));
                }
                results[0] = Val::I64(x * 2);
                Ok(())
            },
        )
        .unwrap();
    let wasm = wat::parse_str(
        r#"(module (import "env" "log" (func $log (param i64) (result i64)))
            (func (export "run") (param i64) (result i64) (i64.add (call $log (local.get 0)) (i64.const 1))))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, Vec::new());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_func(&mut store, "run").unwrap();
    let mut out = [Val::I64(0)];
    run.call(&mut store, &[Val::I64(20)], &mut out).unwrap();
    assert_eq!(out[0], Val::I64(41));
    let err = run.call(&mut store, &[Val::I64(-1)], &mut out).unwrap_err();
    let trap = err.trap().unwrap();
    assert_eq!((trap.code(), trap.message()), (TrapCode::Host, "negative"));
    assert_eq!(store.data(), &vec![20, -1]);
}

#[test]
fn memory_tables_and_globals_are_reachable_from_the_host() {
    let (mut s, i) = setup(
        r#"(module (memory (export "mem") 1 3) (global (export "g") (mut i32) (i32.const 5))
            (table (export "t") 2 funcref) (elem (i32.const 1) $f)
            (func $f (export "f") (result i32) (global.get 0))
            (data (i32.const 8) "hello")
            (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
            (func (export "calli") (param i32) (result i32) (call_indirect (result i32) (local.get 0))))"#,
    );
    let mem = i.get_memory(&mut s, "mem").unwrap();
    assert_eq!(&mem.data(&s).unwrap()[8..13], b"hello");
    let g = i.get_global(&mut s, "g").unwrap();
    g.set(&mut s, Val::I32(9)).unwrap();
    assert_eq!(call(&mut s, i, "calli", &[Val::I32(1)]).unwrap(), vec![Val::I32(9)]);
    assert_eq!(trap_code(call(&mut s, i, "calli", &[Val::I32(0)])), TrapCode::IndirectCallToNull);
    assert_eq!(trap_code(call(&mut s, i, "calli", &[Val::I32(2)])), TrapCode::TableOutOfBounds);
    assert_eq!(call(&mut s, i, "grow", &[Val::I32(2)]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(call(&mut s, i, "grow", &[Val::I32(1)]).unwrap(), vec![Val::I32(-1)]);
    assert_eq!(mem.size(&s).unwrap(), 3);
    let t = i.get_table(&mut s, "t").unwrap();
    assert!(matches!(t.get(&s, 1), Some(Val::FuncRef(Some(_)))));
}

#[test]
fn fuel_runs_out_and_can_be_refilled() {
    let engine = Engine::new(&Config { consume_fuel: true, ..Config::default() }).unwrap();
    let wasm = wat::parse_str(r#"(module (func (export "spin") (loop (br 0))) (func (export "one") (result i32) i32.const 1))"#).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    store.set_fuel(10_000).unwrap();
    let spin = instance.get_func(&mut store, "spin").unwrap();
    let err = spin.call(&mut store, &[], &mut []).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::OutOfFuel);
    assert_eq!(store.get_fuel().unwrap(), 0);
    store.set_fuel(100).unwrap();
    let one = instance.get_func(&mut store, "one").unwrap();
    let mut out = [Val::I32(0)];
    one.call(&mut store, &[], &mut out).unwrap();
    let left = store.get_fuel().unwrap();
    assert!(left < 100 && left > 90, "a tiny function costs a few units ({left} left)");
    let plain = Engine::new(&Config::default()).unwrap();
    assert_eq!(Store::new(&plain, ()).set_fuel(1).unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn an_epoch_tick_interrupts_an_infinite_loop() {
    let engine = Engine::new(&Config { epoch_interruption: true, ..Config::default() }).unwrap();
    let wasm = wat::parse_str(r#"(module (func (export "spin") (loop (br 0))))"#).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    store.set_epoch_deadline(1);
    let ticker = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            engine.increment_epoch();
        })
    };
    let spin = instance.get_func(&mut store, "spin").unwrap();
    let err = spin.call(&mut store, &[], &mut []).unwrap_err();
    assert_eq!(err.trap().unwrap().code(), TrapCode::Interrupt);
    ticker.join().unwrap();
}

#[test]
fn loads_see_earlier_stores_calls_and_growth_in_the_same_block() {
    // Memory, globals, tables and the memory length are separate alias
    // regions for the compiler: each must still see its own stores and what
    // calls (here memory.grow) change, and out-of-bounds table accesses trap.
    let (mut s, i) = setup(
        r#"(module (memory 1) (global $g (mut i32) (i32.const 0)) (table $t 2 funcref)
            (func $seven (result i32) (i32.const 7)) (elem declare func $seven)
            (func (export "mix") (result i32)
              (global.set $g (i32.const 1))
              (i32.store (i32.const 0) (i32.const 2))
              (global.set $g (i32.add (global.get $g) (i32.load (i32.const 0))))
              (i32.store (i32.const 4) (global.get $g))
              (drop (memory.size))
              (drop (memory.grow (i32.const 1)))
              (i32.store (i32.const 65536) (memory.size))
              (table.set $t (i32.const 1) (ref.func $seven))
              (i32.add (i32.add (call_indirect (result i32) (i32.const 1)) (global.get $g))
                       (i32.add (i32.load (i32.const 4)) (i32.load (i32.const 65536)))))
            (func (export "get") (param i32) (result funcref) (table.get $t (local.get 0)))
            (func (export "set") (param i32) (table.set $t (local.get 0) (ref.null func))))"#,
    );
    assert_eq!(call(&mut s, i, "mix", &[]).unwrap(), vec![Val::I32(7 + 3 + 3 + 2)]);
    assert_eq!(trap_code(call(&mut s, i, "get", &[Val::I32(2)])), TrapCode::TableOutOfBounds);
    assert_eq!(trap_code(call(&mut s, i, "set", &[Val::I32(-1)])), TrapCode::TableOutOfBounds);
    assert!(matches!(call(&mut s, i, "get", &[Val::I32(1)]).unwrap()[0], Val::FuncRef(Some(_))));
}
