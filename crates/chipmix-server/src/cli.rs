//! The command line of the server, shared by `chipmix serve` / `chipmix token` and the
//! standalone `chipmix-server` binary, so both behave the same.

use crate::{Config, Role};
use clap::Subcommand;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Where the server keeps its data and how it listens.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER:PASSWORD@HOST:PORT/DB
    #[arg(long, global = true, default_value_t = Config::default().db_url)]
    pub db: String,
    /// Address to listen on (port 0: any free port, printed at start)
    #[arg(long, default_value_t = Config::default().bind)]
    pub bind: SocketAddr,
    /// Larger request bodies are refused with 413
    #[arg(long, default_value_t = Config::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// The longest any one solve may run, seconds
    #[arg(long, default_value_t = Config::default().solve_time_limit_s)]
    pub solve_time_limit: f64,
}

#[derive(Subcommand, Clone, Debug)]
pub enum TokenCommand {
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

async fn run(args: ServerArgs, token: Option<TokenCommand>) -> anyhow::Result<()> {
    let config = Config {
        db_url: args.db,
        bind: args.bind,
        max_body_bytes: args.max_body_bytes,
        solve_time_limit_s: args.solve_time_limit,
    };
    let Some(cmd) = token else {
        return crate::serve(config).await;
    };
    let db = crate::open_db(&config.db_url).await?;
    db.migrate().await?;
    match cmd {
        TokenCommand::Create { name, role } => {
            let secret = crate::create_token(&db, &name, role).await?;
            println!("{secret}");
            eprintln!(
                "token `{name}` ({role}) created; the secret above is shown only now. Send it as `Authorization: Bearer <secret>`."
            );
        }
        TokenCommand::Revoke { name } => {
            crate::revoke_token(&db, &name).await?;
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

/// Serves the API (`token` = `None`) or runs a token command, on its own runtime.
pub fn main(args: ServerArgs, token: Option<TokenCommand>) -> ExitCode {
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
    let result = runtime.block_on(run(args, token));
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
