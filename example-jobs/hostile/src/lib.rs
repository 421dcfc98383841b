//! `hostile`: misbehaves on purpose, the way a buggy or hostile plugin might, so
//! the host's containment can be seen and tested. Param `mode`:
//! `panic`, `trap`, `spin` (busy loop, no host calls), `stack` (unbounded
//! recursion on the wasm stack), `shadow-stack` (unbounded recursion with large
//! locals, which overflows Rust's in-memory shadow stack first), `flood` (logs without end), `print-flood` (prints to stdout
//! without end), `sleep` (one blocking sleep of an hour), `bad-param` (asks for
//! an integer param `n` and gets text), `big-checkpoint` (saves a 2 MiB
//! checkpoint, over the default cap), `leak-secret` (reads secret `name`
//! and logs, prints and returns it, as a careless job might), `sql` (runs
//! query `statement` on `database`, say one that never ends), or `ok`.

use carillon_guest::{Context, JobError, Outcome, export_job, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let mode: String = ctx.param("mode")?;
    match mode.as_str() {
        "panic" => panic!("hostile job panicking on purpose"),
        "trap" => trap(),
        "spin" => spin(),
        "stack" => Ok(Outcome::items(recurse(1))),
        "shadow-stack" => Ok(Outcome::items(recurse_with_locals(1))),
        "flood" => loop {
            info!("flooding the log with a line that goes on and on and on and on");
        },
        "print-flood" => loop {
            println!("flooding stdout with a line that goes on and on and on and on");
        },
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok(Outcome::done())
        }
        "bad-param" => {
            let n: u32 = ctx.param("n")?;
            Ok(Outcome::items(u64::from(n)))
        }
        "big-checkpoint" => {
            carillon_guest::save_checkpoint(&vec![0u8; 2 << 20])?;
            Ok(Outcome::done())
        }
        "exit" => std::process::exit(3),
        "leak-secret" => {
            let name: String = ctx.param("name")?;
            let value = carillon_guest::secret(&name)?;
            info!(value = value.as_str(); "the secret is {value}");
            println!("printed: {value}");
            Ok(Outcome::done().with_summary(format!("leaked {value}")))
        }
        "sql" => {
            let database: String = ctx.param("database")?;
            let statement: String = ctx.param("statement")?;
            let rows = carillon_guest::sql::query(&database, &statement, &[])?;
            Ok(Outcome::items(rows.len() as u64).with_summary(format!("{} rows", rows.len())))
        }
        "ok" => Ok(Outcome::done().with_summary("behaved")),
        other => Err(JobError::fatal(format!("unknown mode `{other}`"))),
    }
}

fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Recursion with nothing in linear memory: every frame is on the wasm stack.
fn recurse(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    std::hint::black_box(recurse(depth + 1)) + depth
}

/// Recursion with an addressed array per frame: frames go on the shadow stack.
#[allow(unconditional_recursion)]
fn recurse_with_locals(depth: u64) -> u64 {
    let pad = std::hint::black_box([depth; 64]);
    recurse_with_locals(depth + 1) + pad[0]
}

export_job!(run);
