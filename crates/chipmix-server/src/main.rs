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
    /// Create, revoke or list bearer tokens
    #[command(subcommand)]
    Token(TokenCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(command)) => chipmix_server::cli::token_main(command, "chipmix-server"),
        _ => chipmix_server::cli::serve_main(cli.server, "chipmix-server"),
    }
}
