//! `spaces-archive`: parse the command line, set up logging, run the subcommand and
//! turn its outcome into the exit code (0 ok, 1 failure, 2 bad usage, 3 some input
//! rejected).

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything is written: the data dir 0700, every file 0600.
    spaces_archive::private::restrict_umask();
    // Bad usage (a flag, a value, the configuration file) exits 2 here.
    let cli = spaces_archive::cli::parse();
    spaces_archive::cli::init_tracing(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(spaces_archive::cli::run(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        // A closed pipe (`spaces-archive spaces | head`) is a normal way to stop reading.
        Err(error) if spaces_archive::cli::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "error: {}",
                spaces_archive::redact::scrub(&spaces_archive::cli::describe_error(&error))
            );
            ExitCode::from(1)
        }
    }
}
