//! The compiler: each defined function's body is translated to Cranelift IR
//! ([`func_translator`]), compiled for the host by `cranelift-codegen`, and
//! the results are linked into one executable mapping ([`code_memory`]).
//! Escaping functions also get an array-call trampoline ([`trampolines`]).
//!
//! Functions compile in parallel: the jobs are split across up to
//! `available_parallelism` threads, each with its own Cranelift context.

pub(crate) mod code_memory;
pub(crate) mod env;
pub(crate) mod func_translator;
pub(crate) mod trampolines;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::module::info::ModuleInfo;
use crate::runtime::vmcontext::VMOffsets;
use code_memory::{CodeMemory, CompiledFunc};
use cranelift_codegen::Context;
use cranelift_codegen::FinalizedRelocTarget;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{ExternalName, Function};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use env::{HeapStyle, ModuleEnv};
pub(crate) use func_translator::Writes;
use trampolines::{NS_ARRAY, NS_WASM};

/// Builds the Cranelift target for the host with our settings.
pub(crate) fn host_isa() -> Result<OwnedTargetIsa> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| Error::internal(format!("cranelift setting {k}={v}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
    set(&mut flags, "enable_probestack", "false")?;
    set(&mut flags, "preserve_frame_pointers", "true")?;
    set(&mut flags, "unwind_info", "false")?;
    set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    let builder = cranelift_native::builder()
        .map_err(|e| Error::unsupported(format!("host not supported by Cranelift: {e}")))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| Error::unsupported(format!("host not supported by Cranelift: {e}")))
}

/// Compiles one IR function into a relocatable [`CompiledFunc`].
pub(crate) fn compile_function(
    isa: &dyn TargetIsa,
    ctx: &mut Context,
    func: Function,
) -> Result<CompiledFunc> {
    let key = match func.name {
        cranelift_codegen::ir::UserFuncName::User(ref n) => (n.namespace, n.index),
        _ => (u32::MAX, 0),
    };
    ctx.clear();
    ctx.func = func;
    let names = ctx.func.params.user_named_funcs().clone();
    let compiled = ctx.compile(isa, &mut ControlPlane::default()).map_err(|e| {
        Error::internal(format!("cranelift failed to compile function {key:?}: {:?}", e.inner))
    })?;
    let code = compiled.code_buffer().to_vec();
    let mut relocs = Vec::new();
    for r in compiled.buffer.relocs() {
        let target = match &r.target {
            FinalizedRelocTarget::ExternalName(ExternalName::User(name)) => {
                let n = &names[*name];
                (n.namespace, n.index)
            }
            other => {
                return Err(Error::internal(format!("unexpected relocation target {other:?}")));
            }
        };
        relocs.push((r.offset, r.kind, target, r.addend));
    }
    let traps = compiled.buffer.traps().iter().map(|t| (t.offset, t.code)).collect();
    let srclocs = compiled
        .buffer
        .get_srclocs_sorted()
        .iter()
        .filter(|s| !s.loc.is_default())
        .map(|s| (s.start, s.end, s.loc.bits()))
        .collect();
    Ok(CompiledFunc { key, code, relocs, traps, srclocs, entry_offset: None })
}

/// One unit of compilation work.
#[derive(Clone, Copy)]
enum Job {
    Wasm(u32),
    Array(u32),
}

/// Compiles every defined function of a module (and the trampolines of the
/// escaping ones) and links them into executable memory. Also reports which
/// memories and tables the code may write.
/// Bodies smaller than this compile without the memory check below.
const CHECKED_BODY_SIZE: usize = 64 << 10;

/// Bytes of working memory compiling one byte of function body can take
/// (measured peak RSS per body byte: about 110 for long straight-line
/// bodies, 180 with calls, 230 for deeply nested blocks, and up to 1,100 for
/// dense `call_indirect`; see BENCHMARKS.md, "Compile cost of large function
/// bodies"). The check reserves this much, so it covers the common shapes.
const COMPILE_BYTES_PER_BODY_BYTE: usize = 256;

/// Refuses to compile a module whose largest function body needs more
/// working memory than the process can get, instead of letting the
/// compiler's infallible allocations abort the process half-way: a
/// `Resource` error naming the function. The check reserves (and at once
/// releases) [`COMPILE_BYTES_PER_BODY_BYTE`] times the body's size, which
/// costs a mapping and nothing more; bodies under [`CHECKED_BODY_SIZE`] are
/// not checked. It cannot promise that compiling will succeed (the working
/// set may be larger, and other threads allocate too), only that a body
/// that clearly cannot be compiled is refused cleanly.
fn check_compile_memory(info: &ModuleInfo) -> Result<()> {
    let Some((i, body)) = info.bodies.iter().enumerate().max_by_key(|(_, b)| b.len()) else {
        return Ok(());
    };
    if body.len() < CHECKED_BODY_SIZE {
        return Ok(());
    }
    let need = body.len().saturating_mul(COMPILE_BYTES_PER_BODY_BYTE);
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(need).map_err(|_| {
        Error::new(
            ErrorKind::Resource,
            format!(
                "not enough memory to compile function {} ({} bytes of body need at least {need} \
                 bytes of working memory)",
                info.num_imported_funcs as usize + i,
                body.len()
            ),
        )
    })
}

pub(crate) fn compile_module(
    isa: &dyn TargetIsa,
    config: &Config,
    info: &ModuleInfo,
    offsets: &VMOffsets,
    wasm: &[u8],
) -> Result<(CodeMemory, Writes)> {
    let env = ModuleEnv {
        info,
        offsets,
        wasm,
        heaps: info.memories.iter().map(|m| HeapStyle::for_memory(m, config)).collect(),
        call_conv: isa.default_call_conv(),
        frontend: isa.frontend_config(),
        fuel: config.consume_fuel,
        epochs: config.epoch_interruption,
    };
    check_compile_memory(info)?;
    let mut jobs = Vec::new();
    for f in info.num_imported_funcs..info.functions.len() as u32 {
        jobs.push(Job::Wasm(f));
        if info.escaping.contains(&f) {
            jobs.push(Job::Array(f));
        }
    }
    let threads = if config.parallel_compilation {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(jobs.len() / 4 + 1)
    } else {
        1
    };
    let run = |jobs: &[Job]| -> Result<(Vec<CompiledFunc>, Writes)> {
        let mut ctx = Context::new();
        let mut fctx = FunctionBuilderContext::new();
        let mut out = Vec::with_capacity(jobs.len());
        let mut writes = Writes::default();
        for job in jobs {
            let mut entry_offset = None;
            let func = match *job {
                Job::Wasm(f) => {
                    let mut func = Function::new();
                    let t = func_translator::translate_function(&env, f, &mut func, &mut fctx)?;
                    writes = writes.union(t.writes);
                    entry_offset = Some(t.entry_offset);
                    func
                }
                Job::Array(f) => trampolines::array_call_trampoline(
                    f,
                    info.func_type(f),
                    env.call_conv,
                    env.frontend,
                    &mut fctx,
                ),
            };
            out.push(CompiledFunc { entry_offset, ..compile_function(isa, &mut ctx, func)? });
        }
        Ok((out, writes))
    };
    let (funcs, writes) = if threads <= 1 {
        run(&jobs)?
    } else {
        let chunk = jobs.len().div_ceil(threads);
        let results: Vec<Result<(Vec<CompiledFunc>, Writes)>> = std::thread::scope(|s| {
            // A thread the OS refuses (no memory for its stack) is no error:
            // its chunk compiles here instead.
            let handles: Vec<_> = jobs
                .chunks(chunk)
                .map(|c| (c, std::thread::Builder::new().spawn_scoped(s, move || run(c))))
                .collect();
            handles
                .into_iter()
                .map(|(c, h)| match h {
                    Ok(h) => h
                        .join()
                        .unwrap_or_else(|_| Err(Error::internal("compiler thread panicked"))),
                    Err(_) => run(c),
                })
                .collect()
        });
        let mut all = Vec::with_capacity(jobs.len());
        let mut writes = Writes::default();
        for r in results {
            let (funcs, w) = r?;
            all.extend(funcs);
            writes = writes.union(w);
        }
        (all, writes)
    };
    debug_assert!(funcs.iter().all(|f| f.key.0 == NS_WASM || f.key.0 == NS_ARRAY));
    let code = CodeMemory::new(funcs, info.names.clone())?;
    Ok((code, writes))
}

/// Appends a module's functions and trampolines to the perf map (the
/// module's caller does, for compiled and loaded code alike).
pub(crate) fn publish_module_code(code: &CodeMemory, info: &ModuleInfo) {
    crate::profiling::publish(code, |(namespace, index)| match namespace {
        NS_WASM => info.names.symbol(index),
        _ => format!("wasm-trampoline[array-call] {}", info.names.symbol(index)),
    });
}
