//! `chipmix-server`: serve the API, or manage tokens, on a database. The same commands are
//! `chipmix serve` and `chipmix token` in the main binary.

use chipmix_server::cli::{ServerArgs, TokenCommand};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "chipmix-server", version, about = "The chipmix HTTP API")]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default)
    Serve,
    /// Create or revoke bearer tokens
    #[command(subcommand)]
    Token(TokenCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = match cli.command {
        Some(Command::Token(t)) => Some(t),
        _ => None,
    };
    chipmix_server::cli::main(cli.server, token)
}
