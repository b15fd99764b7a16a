//! `deepscope-kernel`: the Jupyter kernel for deepscope. evcxr compiles and
//! runs the cells, with the deepscope library and tch preloaded; this binary
//! speaks the Jupyter protocol around it, carries live displays from the
//! evaluation process over a side channel, turns interrupts into the
//! library's stop flag, reuses build folders across starts, and serves
//! kernels from evaluators prepared ahead of time (see [`ready`]).
//!
//! ```text
//! deepscope-kernel-launcher run CONNECTION_FILE   what Jupyter starts (kernel.json):
//!                                        a ready evaluator, else the next line
//! deepscope-kernel run CONNECTION_FILE    the kernel by itself
//! deepscope-kernel install [--prefix DIR | --user]
//! deepscope-kernel warm                   compile the preload into a build folder, copy it to the next
//! deepscope-kernel doctor                 check libtorch, device, data, pool, service
//! deepscope-kernel ready [status | stop]  the service of ready evaluators
//! deepscope-kernel --version
//! ```

mod backlog;
mod cell_end;
mod completeness;
mod dep_lines;
mod display_channel;
mod doctor;
mod evaluator;
mod install;
mod pool;
mod preload;
mod server;
mod session;
mod shared;
mod streams;
mod user_error;
mod wire;

/// Ready evaluators ([`deepscope_kernel::ready`]) and the halves of them
/// that run here: the service, its workers, the evaluation process's side.
mod ready {
    pub use deepscope_kernel::ready::*;
    #[path = "child.rs"]
    pub mod child;
    #[path = "service.rs"]
    pub mod service;
    #[path = "worker.rs"]
    pub mod worker;
}

use session::{Options, Prepared};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: deepscope-kernel run CONNECTION_FILE | install [--prefix DIR | --user] | warm | doctor | ready [status | stop] | --version";

/// The libtorch this binary was built against (the parent of its lib folder).
pub fn default_libtorch() -> Option<PathBuf> {
    let lib = env!("DEEPSCOPE_LIBTORCH_LIB");
    (!lib.is_empty())
        .then(|| PathBuf::from(lib).parent().map(PathBuf::from))
        .flatten()
}

/// Serves the kernel of `connection_file`: through a ready evaluator when
/// one can be had, otherwise by itself (and then starts the service that
/// prepares the next kernel's). `not_ready` is why the launcher found no
/// evaluator, when it asked first.
fn run(connection_file: &str, not_ready: Option<&str>) -> Result<i32, String> {
    let text =
        std::fs::read_to_string(connection_file).map_err(|e| format!("{connection_file}: {e}"))?;
    let info = session::connection_info(connection_file, &text)?;
    let why = match not_ready {
        Some(why) => why.to_string(),
        None => match ready::client::take(&text) {
            Ok(code) => return Ok(code),
            Err(why) => why,
        },
    };
    eprintln!("deepscope-kernel: starting without a ready evaluator: {why}");
    let prepared = Prepared::new(Options::default())?;
    if ready::count() > 0 {
        let shared = prepared.shared().clone();
        // After this kernel's own preload, so the service's first
        // preparation does not slow it down.
        std::thread::spawn(move || {
            while matches!(*shared::lock(&shared.preload), shared::Preload::Running(_)) {
                std::thread::sleep(Duration::from_millis(200));
            }
            if let Err(e) = ready::client::start_service() {
                eprintln!("deepscope-kernel: no ready service: {e}");
            }
        });
    }
    prepared.serve(info).map(|()| 0)
}

/// Compiles the preload into a pool folder, so that the next kernel starts
/// warm. Prints how long each part took.
fn warm() -> Result<(), String> {
    let slot = pool::acquire(&pool::root(), pool::size())
        .map_err(|e| format!("build folder pool {}: {e}", pool::root().display()))?;
    if slot.index.is_none() {
        return Err("every build folder is in use by a running kernel".into());
    }
    session::prepare_environment(&slot.dir, None, None);
    let started = Instant::now();
    let (mut ctx, _outputs) =
        evcxr::CommandContext::new().map_err(|e| format!("evcxr could not start: {e}"))?;
    let context_ready = started.elapsed();
    preload::run(&mut ctx, &slot.dir)?;
    let preloaded = started.elapsed() - context_ready;
    let cell = Instant::now();
    ctx.execute("let t = tch::Tensor::ones([3], (tch::Kind::Float, tch::Device::Cpu)); t.sum(tch::Kind::Float)")
        .map_err(|e| format!("a first tensor cell failed: {e}"))?;
    println!(
        "warmed {} in {:.1} s (evcxr started {:.1} s, preload {:.1} s, a first library cell {:.1} s)",
        slot.dir.display(),
        started.elapsed().as_secs_f64(),
        context_ready.as_secs_f64(),
        preloaded.as_secs_f64(),
        cell.elapsed().as_secs_f64(),
    );
    drop(ctx);
    // The next kernels and the ready evaluators take the next folders: a
    // copy of this one makes them warm too (seconds, where building one
    // from nothing takes minutes).
    let copy = Instant::now();
    let wanted = (1 + ready::count()).min(pool::size());
    let copied = pool::seed_free_slots(&pool::root(), &slot, wanted)
        .map_err(|e| format!("copying {} to the next folders: {e}", slot.dir.display()))?;
    if !copied.is_empty() {
        println!(
            "copied it to slot {} in {:.1} s",
            copied
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            copy.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        // The evaluation process. First, while it has one thread: die with
        // the kernel, and take on a kernel's environment at handover.
        ready::child::start();
        // An interrupt sets the library's stop flag (the kernel kills the
        // process if a cell ignores it). Installed here so that every
        // restarted process has it too.
        if let Err(e) = deepscope::runtime::interrupt::install_flag_handler() {
            eprintln!("deepscope-kernel: no interrupt handler: {e}");
        }
        // Cells run forward passes over and over: keep the buffers libtorch
        // frees instead of faulting them in again at every pass (a user's
        // own MALLOC_* thresholds win).
        if !deepscope::runtime::allocator::chosen_by_environment() {
            if let Err(e) = deepscope::runtime::allocator::retain_freed_buffers() {
                eprintln!("deepscope-kernel: freed buffers go back to the system: {e}");
            }
        }
        // Ensures the exported flag is linked in.
        std::hint::black_box(&deepscope::runtime::interrupt::DEEPSCOPE_INTERRUPT_FLAG);
        if let Err(e) = user_error::relay_stdout() {
            eprintln!("deepscope-kernel: cells that stop at `?` will not report an error: {e}");
        }
    }
    // In the evaluation process and evcxr's rustc wrapper this never returns.
    evcxr::runtime_hook();
    ready::env::capture();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let done = |r: Result<(), String>| r.map(|()| 0);
    let result = match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("deepscope-kernel {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Some("doctor") => return doctor::doctor(),
        Some("run") if args.len() == 2 => run(&args[1], None),
        // From the launcher, which asked for a ready evaluator first.
        Some("run") if args.len() == 4 && args[2] == "--without-ready" => {
            run(&args[1], Some(&args[3]))
        }
        Some("install") => done(install::parse(&args[1..]).and_then(|t| {
            let dir = install::install(&t)?;
            println!(
                "installed kernelspec '{}' in {}",
                install::NAME,
                dir.display()
            );
            Ok(())
        })),
        Some("warm") if args.len() == 1 => done(warm()),
        Some("ready") => done(ready_command(&args[1..])),
        // Started by the kernel and the service, not by hand.
        Some("ready-service") => done(ready::service::run()),
        Some("ready-worker") => ready::worker::run(),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("deepscope-kernel: {e}");
            ExitCode::from(2)
        }
    }
}

/// `ready status [--json]` prints the state of every service of this user;
/// `ready stop [--all]` stops this environment's (or every one).
fn ready_command(args: &[String]) -> Result<(), String> {
    let flags: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match (args.first().map(String::as_str), flags.as_slice()) {
        (None | Some("status"), []) => {
            println!("ready service: {}", ready::client::describe());
            Ok(())
        }
        (Some("status"), ["--json"]) => {
            println!("{}", serde_json::Value::from(ready::client::status_all()));
            Ok(())
        }
        (Some("stop"), []) => {
            match ready::client::stop() {
                Ok(_) => println!("ready service stopped"),
                Err(why) => println!("no ready service to stop ({why})"),
            }
            Ok(())
        }
        (Some("stop"), ["--all"]) => {
            println!("stopped {} ready service(s)", ready::client::stop_all());
            Ok(())
        }
        _ => Err("usage: deepscope-kernel ready [status [--json] | stop [--all]]".into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_launcher_names_the_display_socket_as_the_library_does() {
        assert_eq!(
            deepscope_kernel::DISPLAY_SOCKET_ENV,
            deepscope::display::SOCKET_ENV
        );
    }
}
