//! `chipmix-server`: serve the API, or manage tokens, on a database.

use chipmix_server::{Config, Role};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "chipmix-server", version, about = "The chipmix HTTP API")]
struct Cli {
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER:PASSWORD@HOST:PORT/DB
    #[arg(long, global = true, default_value_t = Config::default().db_url)]
    db: String,
    /// Address to listen on (port 0: any free port, printed at start)
    #[arg(long, default_value_t = Config::default().bind)]
    bind: SocketAddr,
    /// Larger request bodies are refused with 413
    #[arg(long, default_value_t = Config::default().max_body_bytes)]
    max_body_bytes: usize,
    /// The longest any one solve may run, seconds
    #[arg(long, default_value_t = Config::default().solve_time_limit_s)]
    solve_time_limit: f64,
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

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (shown once)
    Create {
        #[arg(long)]
        name: String,
        /// viewer, editor or admin
        #[arg(long)]
        role: Role,
    },
    /// Revoke a token by name or id
    Revoke { name: String },
    /// List tokens (never their secrets)
    List,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config {
        db_url: cli.db,
        bind: cli.bind,
        max_body_bytes: cli.max_body_bytes,
        solve_time_limit_s: cli.solve_time_limit,
    };
    let Some(Command::Token(cmd)) = cli.command else {
        return chipmix_server::serve(config).await;
    };
    let db = chipmix_server::open_db(&config.db_url).await?;
    db.migrate().await?;
    match cmd {
        TokenCommand::Create { name, role } => {
            let secret = chipmix_server::create_token(&db, &name, role).await?;
            println!("{secret}");
            eprintln!(
                "token `{name}` ({role}) created; the secret above is shown only now. Send it as `Authorization: Bearer <secret>`."
            );
        }
        TokenCommand::Revoke { name } => {
            chipmix_server::revoke_token(&db, &name).await?;
            eprintln!("token `{name}` revoked");
        }
        TokenCommand::List => {
            for t in db.list_tokens().await? {
                println!(
                    "{}\t{}\t{}\tcreated {}{}",
                    t.id,
                    t.name,
                    t.role,
                    t.created_at,
                    t.revoked_at
                        .map(|r| format!("\trevoked {r}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    db.close().await;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chipmix-server: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // An analysis without a cancellation point may still be running on the blocking pool; its
    // job is already marked failed, so it is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chipmix-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
