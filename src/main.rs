//! The `evenntify` binary: parse the command line and hand over to `cli::run`.

use clap::Parser;

// glibc malloc took a quarter of the CPU under the browse benchmark (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = evenntify::cli::Cli::parse();
    match evenntify::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line, e.g. "invalid HOLD_SECONDS: …".
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
