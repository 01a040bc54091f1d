use clap::Parser;

fn main() {
    // Like other Unix filters: end quietly when the reader of our output goes away
    // (`steerscope inspect | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = steerscope::cli::Cli::parse();
    if let Err(e) = steerscope::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
