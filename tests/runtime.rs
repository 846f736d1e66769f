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
fn on_demand_instances_map_a_copy_on_write_image() {
    let wat = r#"(module (memory (export "m") 2) (data (i32.const 70000) "image")
        (func (export "poke") (i32.store8 (i32.const 70000) (i32.const 88))))"#;
    for cow in [true, false] {
        let engine = Engine::new(&Config { memory_init_cow: cow, ..Config::default() }).unwrap();
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
        assert_eq!(module.image_bytes() > 0, cow);
        let mut a = Store::new(&engine, ());
        let ia = Instance::new(&mut a, &module, &[]).unwrap();
        let mut b = Store::new(&engine, ());
        let ib = Instance::new(&mut b, &module, &[]).unwrap();
        ia.get_func(&mut a, "poke").unwrap().call(&mut a, &[], &mut []).unwrap();
        let ma = ia.get_memory(&mut a, "m").unwrap();
        let mb = ib.get_memory(&mut b, "m").unwrap();
        assert_eq!(&ma.data(&a).unwrap()[70000..70005], b"Xmage", "cow {cow}");
        assert_eq!(&mb.data(&b).unwrap()[70000..70005], b"image", "writes stay private");
        // Growth keeps the image's contents.
        ma.grow(&mut a, 1).unwrap();
        assert_eq!(&ma.data(&a).unwrap()[70000..70005], b"Xmage");
        assert_eq!(ma.data(&a).unwrap()[3 * 65536 - 1], 0);
    }
}

/// Lanes of an i32x4 as a `Val::V128`.
fn i32x4(lanes: [i32; 4]) -> Val {
    let mut bytes = [0u8; 16];
    for (i, l) in lanes.iter().enumerate() {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&l.to_le_bytes());
    }
    Val::V128(u128::from_le_bytes(bytes))
}

#[test]
fn v128_values_cross_host_functions_globals_and_precompiled_modules() {
    let engine = Engine::new(&Config::default()).unwrap();
    let wasm = wat::parse_str(
        r#"(module
            (import "host" "scale" (func $scale (param v128 i32) (result v128)))
            (import "host" "base" (global $base v128))
            ;; one global from a constant (the VMContext template), one from an import
            ;; (evaluated at instantiation)
            (global $k (export "k") (mut v128) (v128.const i32x4 1 2 3 4))
            (global $copy (export "copy") v128 (global.get $base))
            (func (export "f") (param v128) (result v128)
              (global.set $k (i32x4.add (global.get $k) (global.get $copy)))
              (call $scale (i32x4.add (local.get 0) (global.get $k)) (i32.const 3))))"#,
    )
    .unwrap();
    let compiled = Module::new(&engine, &wasm).unwrap();
    let loaded = Module::deserialize(&engine, &compiled.serialize().unwrap()).unwrap();
    for module in [compiled, loaded] {
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let ty = FuncType::new([ValType::V128, ValType::I32], [ValType::V128]);
        linker
            .func_new("host", "scale", ty, |_, args, results| {
                let (Val::V128(v), Val::I32(k)) = (args[0], args[1]) else {
                    return Err(Trap::host("wrong argument kinds".to_string()));
                };
                let b = v.to_le_bytes();
                let lane = |i: usize| i32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
                results[0] = i32x4([lane(0) * k, lane(1) * k, lane(2) * k, lane(3) * k]);
                Ok(())
            })
            .unwrap();
        let base_ty = GlobalType { content: ValType::V128, mutable: false };
        let base = Global::new(&mut store, base_ty, i32x4([10, 20, 30, -40])).unwrap();
        assert_eq!(base.get(&store), i32x4([10, 20, 30, -40]));
        linker.define("host", "base", base).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let copy = instance.get_global(&mut store, "copy").unwrap();
        assert_eq!(copy.get(&store), i32x4([10, 20, 30, -40]));
        // k = (1, 2, 3, 4) + base; f(x) = 3 * (x + k)
        let r = call(&mut store, instance, "f", &[i32x4([0, 1, -1, 100])]).unwrap();
        assert_eq!(r, [i32x4([33, 69, 96, 192])]);
        let k = instance.get_global(&mut store, "k").unwrap();
        assert_eq!(k.get(&store), i32x4([11, 22, 33, -36]));
        k.set(&mut store, i32x4([0, 0, 0, 0])).unwrap();
        let r = call(&mut store, instance, "f", &[i32x4([1, 1, 1, 1])]).unwrap();
        assert_eq!(r, [i32x4([33, 63, 93, -117])]);
    }
}

/// How many SIMD operators (`v128.*` and every lane-shaped one) the
/// module's function bodies hold.
fn simd_operators(wasm: &[u8]) -> usize {
    let mut n = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let mut ops = body.get_operators_reader().unwrap();
            while !ops.eof() {
                let op = format!("{:?}", ops.read().unwrap());
                let name = op.split([' ', '{']).next().unwrap();
                let shaped = ["x16", "x8", "x4", "x2"].iter().any(|s| name.contains(s));
                n += usize::from(shaped || name.starts_with("V128"));
            }
        }
    }
    n
}

#[test]
fn a_c_program_built_with_and_without_simd128_gives_the_same_results() {
    // tests/simd/kernels.c built by clang (commands in the file); ctest's
    // test_simd_program also compares both with the native build.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/simd");
    let simd = std::fs::read(format!("{dir}/kernels-simd.wasm")).unwrap();
    let scalar = std::fs::read(format!("{dir}/kernels-scalar.wasm")).unwrap();
    // The SIMD build really is vectorized; the scalar one has no v128 code.
    let n = simd_operators(&simd);
    assert!(n > 50, "the SIMD build has only {n} SIMD operators");
    assert_eq!(simd_operators(&scalar), 0);
    let configs = [
        Config::default(),
        Config { memory_reservation: 1 << 20, memory_guard_size: 0, ..Config::default() },
    ];
    for config in configs {
        let engine = Engine::new(&config).unwrap();
        let mut store = Store::new(&engine, ());
        let mut kernels = Vec::new();
        for wasm in [&simd, &scalar] {
            let module = Module::new(&engine, wasm).unwrap();
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let count = call(&mut store, instance, "kernel_count", &[]).unwrap();
            assert_eq!(count, [Val::I32(11)]);
            kernels.push(instance);
        }
        for k in 0..11 {
            for seed in [1, 2463534242u32 as i32, 12345] {
                let args = [Val::I32(k), Val::I32(seed)];
                let with = call(&mut store, kernels[0], "kernel", &args).unwrap();
                let without = call(&mut store, kernels[1], "kernel", &args).unwrap();
                assert_eq!(with, without, "kernel {k}, seed {seed}");
            }
        }
    }
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

#[test]
fn blocks_in_unreachable_code_compile_and_are_skipped() {
    // Regression (differential fuzzer): a block, loop or if opened after
    // `unreachable` made a placeholder Cranelift block with an index that
    // trips Cranelift's debug assertion, so debug builds panicked compiling
    // such a module.
    let (mut s, i) = setup(
        r#"(module (func (export "f") (param i32) (result i32)
            (block (result i32)
              (br_if 0 (i32.const 7) (local.get 0))
              (unreachable)
              (block (loop (if (i32.const 1) (then (nop)) (else (nop)))))
              (i32.const 9))))"#,
    );
    assert_eq!(call(&mut s, i, "f", &[Val::I32(1)]).unwrap(), vec![Val::I32(7)]);
    assert_eq!(trap_code(call(&mut s, i, "f", &[Val::I32(0)])), TrapCode::Unreachable);
}
