//! Compile cost of one large function body: a generator for the test modules
//! and a measuring verb, so the same bytes can be compiled by us and by a peer
//! (BENCHMARKS.md, "Compile cost of large function bodies").
//!
//! ```text
//! cargo run --release --example compile_cost -- gen straight|nested|calls|indirect|loops BYTES OUT.wasm
//! cargo run --release --example compile_cost -- compile FILE.wasm [--no-parallel]
//! ```
//!
//! `gen` writes a module with one exported function `f: (i32) -> i32` (plus
//! an imported function, one memory and one global), whose body (local
//! declarations, operators and the final `end`) is exactly `BYTES` long, at
//! most 7,654,321 (the largest body wasmparser accepts):
//!
//! - `straight`: one straight-line run of arithmetic on locals and loads and
//!   stores through them;
//! - `nested`: a sequence of groups of nested `block`s, each level with a
//!   `br_if` out to an enclosing block, the nesting depth cycling through 4,
//!   16, 64, 256 and 1,024;
//! - `calls`: straight-line code around calls (to the import and to `f`),
//!   with a global read and written, a store and `memory.size` each time;
//! - `indirect`: straight-line code around `call_indirect`s through a
//!   four-element table;
//! - `loops`: a sequence of small counted loops.
//!
//! `compile` runs `Module::new` once with the default `Config` and prints the
//! seconds it took and the process's peak RSS (`getrusage`), so run each
//! compile in its own process.

use std::time::Instant;

/// The largest function body wasmparser accepts.
const MAX_BODY: usize = 7_654_321;

fn leb_u32(out: &mut Vec<u8>, mut v: u32) {
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

/// Signed LEB128 of a small non-negative constant (below 64: one byte).
fn i32_const(out: &mut Vec<u8>, v: u8) {
    debug_assert!(v < 64);
    out.extend_from_slice(&[0x41, v]);
}

fn local_get(out: &mut Vec<u8>, i: u8) {
    out.extend_from_slice(&[0x20, i]);
}

fn local_set(out: &mut Vec<u8>, i: u8) {
    out.extend_from_slice(&[0x21, i]);
}

/// `local[dst] = local[src] + c`
fn add_const(out: &mut Vec<u8>, src: u8, c: u8, dst: u8) {
    local_get(out, src);
    i32_const(out, c);
    out.push(0x6a); // i32.add
    local_set(out, dst);
}

/// Pushes `local[i] & 63`, an address in the first page.
fn masked_address(out: &mut Vec<u8>, i: u8) {
    local_get(out, i);
    i32_const(out, 63);
    out.push(0x71); // i32.and
}

/// A 4-byte load (0x28) or store (0x36), 4-aligned, at offset `off`.
fn memory_op(out: &mut Vec<u8>, opcode: u8, off: u32) {
    out.extend_from_slice(&[opcode, 0x02]);
    leb_u32(out, off);
}

/// One unit of the straight-line body: arithmetic on the locals, a load and a
/// store (addresses from the locals, constant offsets).
fn straight_unit(out: &mut Vec<u8>, k: u32) {
    let off = (k * 4) % 4096;
    add_const(out, 0, (k % 61) as u8 + 1, 1);
    // l2 = l2 ^ load(l1 & 63 + off)
    masked_address(out, 1);
    memory_op(out, 0x28, off);
    local_get(out, 2);
    out.push(0x73); // i32.xor
    local_set(out, 2);
    // store(l3 & 63 + off, l2 * l1)
    masked_address(out, 3);
    local_get(out, 2);
    local_get(out, 1);
    out.push(0x6c); // i32.mul
    memory_op(out, 0x36, off);
    // l3 = l3 + l2
    local_get(out, 3);
    local_get(out, 2);
    out.push(0x6a);
    local_set(out, 3);
}

/// One unit of the calls body: straight-line code around a call to an
/// imported function and one to `f` itself, with a global read and written,
/// a store and `memory.size`.
fn calls_unit(out: &mut Vec<u8>, k: u32) {
    add_const(out, 0, (k % 61) as u8 + 1, 1);
    // g0 = g0 + l1
    out.extend_from_slice(&[0x23, 0x00]); // global.get 0
    local_get(out, 1);
    out.push(0x6a);
    out.extend_from_slice(&[0x24, 0x00]); // global.set 0
    // store(l1 & 63 + off, l2)
    masked_address(out, 1);
    local_get(out, 2);
    memory_op(out, 0x36, (k * 4) % 4096);
    // l2 = memory.size + l2
    out.extend_from_slice(&[0x3f, 0x00]); // memory.size 0
    local_get(out, 2);
    out.push(0x6a);
    local_set(out, 2);
    // l3 = import(l1, l2)
    local_get(out, 1);
    local_get(out, 2);
    out.extend_from_slice(&[0x10, 0x00]); // call 0 (the import)
    local_set(out, 3);
    // l2 = f(l3)
    local_get(out, 3);
    out.extend_from_slice(&[0x10, 0x01]); // call 1 (f)
    local_set(out, 2);
}

/// One unit of the indirect body: a step of arithmetic and a
/// `call_indirect` through the four-element table (to `f`).
fn indirect_unit(out: &mut Vec<u8>, k: u32) {
    add_const(out, 0, (k % 61) as u8 + 1, 1);
    local_get(out, 1);
    i32_const(out, (k % 4) as u8);
    out.extend_from_slice(&[0x11, 0x00, 0x00]); // call_indirect type 0, table 0
    local_set(out, 2);
}

/// One unit of the loops body: a small counted loop.
fn loop_unit(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x03, 0x40]); // loop (empty type)
    local_get(out, 0);
    i32_const(out, 1);
    out.push(0x6b); // i32.sub
    out.extend_from_slice(&[0x22, 0x00]); // local.tee 0
    out.extend_from_slice(&[0x0d, 0x00, 0x0b]); // br_if 0, end
}

/// One group of the nested body: `depth` nested blocks, each opening with a
/// step of arithmetic and a `br_if` to some enclosing block of the group,
/// then the `end`s, each after a step on another local.
fn nested_group(out: &mut Vec<u8>, depth: u32) {
    for i in 0..depth {
        out.extend_from_slice(&[0x02, 0x40]); // block (empty type)
        local_get(out, 0);
        i32_const(out, (i % 63) as u8 + 1);
        out.push(0x6a);
        out.extend_from_slice(&[0x22, 0x00]); // local.tee 0
        i32_const(out, 7);
        out.push(0x71); // i32.and
        out.push(0x0d); // br_if
        leb_u32(out, (i * 7) % (i + 1));
    }
    for _ in 0..depth {
        local_get(out, 1);
        local_get(out, 0);
        out.push(0x6a);
        local_set(out, 1);
        out.push(0x0b); // end
    }
}

/// Generates the body of `f`, exactly `size` bytes.
fn body(shape: &str, size: usize) -> Vec<u8> {
    // One group of four i32 locals (beyond the parameter).
    let mut out = vec![0x01, 0x04, 0x7f];
    // The tail: result local 3 and `end`.
    let tail = [0x20, 0x03, 0x0b];
    let depths = [4u32, 16, 64, 256, 1024];
    for k in 0u32.. {
        let mut unit = Vec::new();
        match shape {
            "straight" => straight_unit(&mut unit, k),
            "nested" => nested_group(&mut unit, depths[k as usize % depths.len()]),
            "calls" => calls_unit(&mut unit, k),
            "indirect" => indirect_unit(&mut unit, k),
            "loops" => loop_unit(&mut unit),
            _ => panic!("unknown shape {shape:?} (straight|nested|calls|indirect|loops)"),
        }
        if out.len() + unit.len() + tail.len() > size {
            break;
        }
        out.extend_from_slice(&unit);
    }
    // Pad with `nop`s to the exact size.
    out.resize(size - tail.len(), 0x01);
    out.extend_from_slice(&tail);
    out
}

fn section(module: &mut Vec<u8>, id: u8, contents: &[u8]) {
    module.push(id);
    leb_u32(module, contents.len() as u32);
    module.extend_from_slice(contents);
}

/// A module importing `m.g: (i32, i32) -> i32` (function 0), with one
/// memory, one mutable i32 global and one exported function
/// `f: (i32) -> i32` (function 1) whose body is `body`; with `table`, also a
/// four-element funcref table holding `f`.
fn module(body: &[u8], table: bool) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    // Types: 0 = (i32) -> i32, 1 = (i32, i32) -> i32.
    section(&mut m, 1, &[0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]);
    section(&mut m, 2, &[0x01, 0x01, b'm', 0x01, b'g', 0x00, 0x01]); // import m.g, type 1
    section(&mut m, 3, &[0x01, 0x00]); // f: type 0
    if table {
        section(&mut m, 4, &[0x01, 0x70, 0x00, 0x04]); // (table 4 funcref)
    }
    section(&mut m, 5, &[0x01, 0x00, 0x01]); // memory min 1
    section(&mut m, 6, &[0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b]); // (global (mut i32) (i32.const 0))
    section(&mut m, 7, &[0x01, 0x01, b'f', 0x00, 0x01]); // export "f" func 1
    if table {
        // (elem (i32.const 0) func 1 1 1 1)
        section(&mut m, 9, &[0x01, 0x00, 0x41, 0x00, 0x0b, 0x04, 0x01, 0x01, 0x01, 0x01]);
    }
    let mut code = vec![0x01];
    leb_u32(&mut code, body.len() as u32);
    code.extend_from_slice(body);
    section(&mut m, 10, &code);
    m
}

fn peak_rss_kib() -> i64 {
    // SAFETY: `usage` is a valid, writable `rusage` for getrusage to fill.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: compile_cost gen straight|nested|calls|indirect|loops BYTES OUT.wasm | compile FILE.wasm \
                 [--no-parallel]";
    match args.first().map(String::as_str) {
        Some("gen") if args.len() == 4 => {
            let size: usize = args[2].parse().expect("BYTES is a number");
            assert!((16..=MAX_BODY).contains(&size), "BYTES must be 16..={MAX_BODY}");
            let wasm = module(&body(&args[1], size), args[1] == "indirect");
            std::fs::write(&args[3], &wasm).expect("write the module");
            println!("{}: {} body bytes, {} module bytes", args[3], size, wasm.len());
        }
        Some("compile") if args.len() >= 2 => {
            let config = wasmpool::Config {
                parallel_compilation: !args[2..].iter().any(|a| a == "--no-parallel"),
                ..wasmpool::Config::default()
            };
            let engine = wasmpool::Engine::new(&config).expect("engine");
            let wasm = std::fs::read(&args[1]).expect("read the module");
            let start = Instant::now();
            let module = wasmpool::Module::new(&engine, &wasm).expect("compile");
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(&module);
            println!(
                "wasmpool bytes {} seconds {secs:.3} maxrss_kib {}",
                wasm.len(),
                peak_rss_kib()
            );
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
