use clap::Parser;

fn main() {
    let cli = steerscope::cli::Cli::parse();
    if let Err(e) = steerscope::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
