//! `cargo xtask demo`: placeholder until its issue lands.

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    bail!("cargo xtask demo is not written yet ({:?})", args.rest)
}
