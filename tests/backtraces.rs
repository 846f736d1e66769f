//! Trap backtraces through the Rust API: frames, names from the `name`
//! section, module offsets and the printed message.
//!
//! Expected offsets come from wasmparser's own operator offsets over the
//! test module, not from the code under test.

use wasmparser::{Operator, Parser, Payload};
use wasmpool::*;

/// Three named functions in a named module, called main -> middle -> div,
/// plus a host import and functions that call it, recurse, and call wasm
/// through the host.
const WAT: &str = r#"(module $demo
  (import "host" "fail" (func $fail))
  (import "host" "reenter" (func $reenter))
  (memory 1)
  (func $div (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func $middle (param i32) (result i32)
    (call $div (i32.const 1) (local.get 0)))
  (func $main (export "main") (param i32) (result i32)
    (i32.add (call $middle (local.get 0)) (i32.const 1)))
  (func $calls_host (export "calls_host")
    (call $fail))
  (func $outer (export "outer")
    (call $calls_host))
  (func $rec (export "rec") (param i32) (result i32)
    (i32.add (call $rec (local.get 0)) (i32.const 1)))
  (func $load (export "load") (result i32)
    (i32.load (i32.const 70000)))
  (func (export "nameless") unreachable)
  (func $inner (export "inner") unreachable)
  (func $via_host (export "via_host") (call $reenter)))"#;

/// The module offset of every operator of each defined function, by
/// defined-function position, as wasmparser reads them.
fn operator_offsets(wasm: &[u8]) -> Vec<Vec<(String, usize)>> {
    let mut functions = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload.unwrap() {
            let mut reader = body.get_operators_reader().unwrap();
            let mut ops = Vec::new();
            while !reader.eof() {
                let (op, offset) = reader.read_with_offset().unwrap();
                // `call N`, else the operator's variant name (`I32Load`).
                let name = match op {
                    Operator::Call { function_index } => format!("call {function_index}"),
                    other => format!("{other:?}").split(' ').next().unwrap().to_string(),
                };
                ops.push((name, offset as usize));
            }
            functions.push(ops);
        }
    }
    functions
}

/// The offset of the only operator of defined function `defined` whose
/// name is `op`.
fn offset_of(ops: &[Vec<(String, usize)>], defined: usize, op: &str) -> usize {
    let found: Vec<usize> =
        ops[defined].iter().filter(|(name, _)| name == op).map(|(_, offset)| *offset).collect();
    assert_eq!(found.len(), 1, "{op} in defined function {defined}: {:?}", ops[defined]);
    found[0]
}

// Function indices: the two imports (`fail`, `reenter`) come first.
const FAIL: u32 = 0;
const DIV: u32 = 2;
const MIDDLE: u32 = 3;
const MAIN: u32 = 4;
const CALLS_HOST: u32 = 5;
const OUTER: u32 = 6;
const REC: u32 = 7;
const LOAD: u32 = 8;
const NAMELESS: u32 = 9;
const INNER: u32 = 10;

fn defined(index: u32) -> usize {
    (index - 2) as usize
}

struct Fixture {
    store: Store<()>,
    instance: Instance,
    ops: Vec<Vec<(String, usize)>>,
}

fn fixture() -> Fixture {
    let wasm = wat::parse_str(WAT).unwrap();
    let engine = Engine::new(&Config::default()).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_new("host", "fail", FuncType::new([], []), |_, _, _| Err(Trap::host("host says no")))
        .unwrap();
    linker
        .func_new("host", "reenter", FuncType::new([], []), |_, _, _| {
            INNER_CALL.with_borrow_mut(|inner| {
                let (store, func) = inner.as_mut().expect("the test set up the inner store");
                // Runs wasm of another store that traps, and returns its trap.
                let err = func.call(store, &[], &mut []).expect_err("inner traps");
                Err(err.trap().expect("a trap").clone())
            })
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    Fixture { store, instance, ops: operator_offsets(&wasm) }
}

impl Fixture {
    fn trap(&mut self, export: &str, args: &[Val]) -> Trap {
        let f = self.instance.get_func(&mut self.store, export).unwrap();
        let mut results = vec![Val::I32(0); f.ty(&self.store).results().len()];
        let err = f.call(&mut self.store, args, &mut results).unwrap_err();
        err.trap().unwrap_or_else(|| panic!("{export}: not a trap: {err}")).clone()
    }

    fn offset(&self, index: u32, op: &str) -> usize {
        offset_of(&self.ops, defined(index), op)
    }
}

/// (function index, function name, module offset) of each frame.
fn frames(trap: &Trap) -> Vec<(u32, Option<&str>, usize)> {
    trap.frames().iter().map(|f| (f.func_index(), f.func_name(), f.module_offset())).collect()
}

#[test]
fn a_three_deep_trap_names_each_frame_and_its_instruction() {
    let mut fx = fixture();
    let trap = fx.trap("main", &[Val::I32(0)]);
    assert_eq!(trap.code(), TrapCode::IntegerDivisionByZero);
    let div_s = fx.offset(DIV, "I32DivS");
    let call_div = fx.offset(MIDDLE, &format!("call {DIV}"));
    let call_middle = fx.offset(MAIN, &format!("call {MIDDLE}"));
    assert_eq!(
        frames(&trap),
        vec![
            (DIV, Some("div"), div_s),
            (MIDDLE, Some("middle"), call_div),
            (MAIN, Some("main"), call_middle),
        ]
    );
    assert!(trap.frames().iter().all(|f| f.module_name() == Some("demo")));
    assert_eq!(trap.function_index(), Some(DIV));
    assert_eq!(trap.message(), "integer divide by zero");
    let expected = format!(
        "wasm trap: integer divide by zero\n\
         wasm backtrace:\n    \
         0: {:>6} - demo!div\n    \
         1: {:>6} - demo!middle\n    \
         2: {:>6} - demo!main",
        format!("0x{div_s:x}"),
        format!("0x{call_div:x}"),
        format!("0x{call_middle:x}"),
    );
    assert_eq!(trap.to_string(), expected);

    // The same through `Error`, and again: nothing is left over from the
    // first trap.
    let f = fx.instance.get_func(&mut fx.store, "main").unwrap();
    let err = f.call(&mut fx.store, &[Val::I32(0)], &mut [Val::I32(0)]).unwrap_err();
    assert_eq!(err.message(), expected);
    assert_eq!(err.trap().unwrap(), &trap);
}

#[test]
fn a_host_trap_shows_the_wasm_frames_under_it() {
    let mut fx = fixture();
    let trap = fx.trap("outer", &[]);
    assert_eq!((trap.code(), trap.message()), (TrapCode::Host, "host says no"));
    assert_eq!(
        frames(&trap),
        vec![
            (CALLS_HOST, Some("calls_host"), fx.offset(CALLS_HOST, &format!("call {FAIL}"))),
            (OUTER, Some("outer"), fx.offset(OUTER, &format!("call {CALLS_HOST}"))),
        ]
    );
    assert_eq!(trap.function_index(), None, "the host trapped, not wasm");
    assert!(trap.to_string().starts_with("wasm trap: host says no\nwasm backtrace:\n    0: "));
}

#[test]
fn a_trap_that_never_crossed_wasm_has_no_frames() {
    let trap = Trap::host("made by hand");
    assert!(trap.frames().is_empty());
    assert_eq!(trap.to_string(), "wasm trap: made by hand");

    // A host function called from the host directly.
    let engine = Engine::new(&Config::default()).unwrap();
    let mut store = Store::new(&engine, ());
    let f =
        Func::new(&mut store, FuncType::new([], []), |_, _, _| Err(Trap::host("direct"))).unwrap();
    let err = f.call(&mut store, &[], &mut []).unwrap_err();
    assert!(err.trap().unwrap().frames().is_empty());
    assert_eq!(err.message(), "wasm trap: direct");
}

#[test]
fn a_memory_fault_points_at_the_load() {
    let mut fx = fixture();
    let trap = fx.trap("load", &[]);
    assert_eq!(trap.code(), TrapCode::MemoryOutOfBounds);
    assert_eq!(frames(&trap), vec![(LOAD, Some("load"), fx.offset(LOAD, "I32Load"))]);
}

#[test]
fn unnamed_functions_and_modules_print_as_wasmtime_does() {
    let mut fx = fixture();
    let trap = fx.trap("nameless", &[]);
    let at = fx.offset(NAMELESS, "Unreachable");
    assert_eq!(frames(&trap), vec![(NAMELESS, None, at)]);
    assert!(trap.to_string().ends_with(&format!("0x{at:x} - demo!<wasm function {NAMELESS}>")));

    // No name section at all.
    let wasm = wat::parse_str(
        "(module (func (export \"f\") (call 1)) (func (i32.div_u (i32.const 1) (i32.const 0)) drop))",
    )
    .unwrap();
    let ops = operator_offsets(&wasm);
    let engine = Engine::new(&Config::default()).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&mut store, "f").unwrap();
    let err = f.call(&mut store, &[], &mut []).unwrap_err();
    let trap = err.trap().unwrap();
    let (div, call) = (offset_of(&ops, 1, "I32DivU"), offset_of(&ops, 0, "call 1"));
    assert_eq!(frames(trap), vec![(1, None, div), (0, None, call)]);
    assert!(trap.frames().iter().all(|f| f.module_name().is_none()));
    assert_eq!(
        trap.to_string(),
        format!(
            "wasm trap: integer divide by zero\nwasm backtrace:\n    0: {:>6} - <unknown>!<wasm function 1>\n    1: {:>6} - <unknown>!<wasm function 0>",
            format!("{div:#x}"),
            format!("{call:#x}")
        )
    );
}

#[test]
fn deep_recursion_keeps_the_innermost_frames() {
    let mut fx = fixture();
    let trap = fx.trap("rec", &[Val::I32(0)]);
    assert_eq!(trap.code(), TrapCode::StackOverflow);
    let frames = frames(&trap);
    assert_eq!(frames.len(), 64, "the buffer's worth of frames");
    // The innermost frame overflowed in its entry, before its first
    // instruction; every other frame is at the recursive call.
    let first = fx.ops[defined(REC)][0].1;
    let call = fx.offset(REC, &format!("call {REC}"));
    assert_eq!(frames[0], (REC, Some("rec"), first));
    assert!(frames[1..].iter().all(|f| *f == (REC, Some("rec"), call)), "{frames:?}");
}

thread_local! {
    /// The store and function the `reenter` host function calls.
    static INNER_CALL: std::cell::RefCell<Option<(Store<()>, Func)>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn wasm_called_from_a_host_function_shows_the_inner_frames() {
    let mut fx = fixture();
    // The inner wasm: this test's module again, in a store of its own.
    let engine = Engine::new(&Config::default()).unwrap();
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    for name in ["fail", "reenter"] {
        linker
            .func_new("host", name, FuncType::new([], []), |_, _, _| Err(Trap::host("unused")))
            .unwrap();
    }
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let inner = instance.get_func(&mut store, "inner").unwrap();
    INNER_CALL.set(Some((store, inner)));

    let trap = fx.trap("via_host", &[]);
    INNER_CALL.set(None);
    // The trap the host returned keeps its own backtrace: the inner
    // activation's frames only, not those of `via_host` around it.
    assert_eq!(trap.code(), TrapCode::Unreachable);
    assert_eq!(frames(&trap), vec![(INNER, Some("inner"), fx.offset(INNER, "Unreachable"))]);
}
