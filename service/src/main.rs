use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "twofa", version, about = "Web login with TOTP two-factor authentication")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Client used by health checks, the lab and benchmarks.
    Probe {
        #[command(subcommand)]
        cmd: twofa::probe::ProbeCommand,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Probe { cmd } => match twofa::probe::run(cmd).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("twofa probe: {e:#}");
                2
            }
        },
    };
    std::process::exit(code);
}
