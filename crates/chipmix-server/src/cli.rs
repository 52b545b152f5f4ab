//! The command line of the server, shared by `chipmix serve` / `chipmix token` and the
//! standalone `chipmix-server` binary, so both behave the same.

use crate::{Config, Role};
use chipmix_catalog::limits;
use clap::Subcommand;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// The database the server and the token commands work on.
#[derive(clap::Args, Clone, Debug)]
pub struct DbArgs {
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER:PASSWORD@HOST:PORT/DB
    #[arg(long, default_value_t = Config::default().db_url)]
    pub db: String,
}

/// Where the server keeps its data and how it listens.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on (port 0: any free port, printed at start)
    #[arg(long, default_value_t = Config::default().bind)]
    pub bind: SocketAddr,
    /// Larger request bodies are refused with 413
    #[arg(long, default_value_t = Config::default().max_body_bytes,
          value_parser = |s: &str| limits::parse_in(s, &limits::BODY_BYTES).map(|v| v as usize))]
    pub max_body_bytes: usize,
    /// The longest any one solve may run, seconds
    #[arg(long, default_value_t = Config::default().solve_time_limit_s,
          value_parser = |s: &str| limits::parse_in(s, &limits::TIME_LIMIT_S))]
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
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token by name or id
    Revoke {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never their secrets)
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

impl TokenCommand {
    fn db(&self) -> &DbArgs {
        match self {
            TokenCommand::Create { db, .. }
            | TokenCommand::Revoke { db, .. }
            | TokenCommand::List { db } => db,
        }
    }
}

async fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    let db = crate::open_db(&cmd.db().db).await?;
    db.migrate().await?;
    match cmd {
        TokenCommand::Create { name, role, .. } => {
            let secret = crate::create_token(&db, &name, role).await?;
            println!("{secret}");
            eprintln!(
                "token `{name}` ({role}) created; the secret above is shown only now. Send it as `Authorization: Bearer <secret>`."
            );
        }
        TokenCommand::Revoke { name, .. } => {
            crate::revoke_token(&db, &name).await?;
            eprintln!("token `{name}` revoked");
        }
        TokenCommand::List { .. } => {
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

/// Serves the API until ctrl-c or SIGTERM. `program` names the binary in messages.
pub fn serve_main(args: ServerArgs, program: &str) -> ExitCode {
    let config = Config {
        db_url: args.db.db,
        bind: args.bind,
        max_body_bytes: args.max_body_bytes,
        solve_time_limit_s: args.solve_time_limit,
    };
    on_runtime(program, crate::serve(config))
}

/// Creates, revokes or lists tokens. `program` names the binary in messages.
pub fn token_main(cmd: TokenCommand, program: &str) -> ExitCode {
    on_runtime(program, token(cmd))
}

/// Runs `work` on its own runtime; an error is printed after `program`, with exit code 2 for
/// one the user can fix (a taken name, an unknown token, a bad database URL), 1 otherwise.
fn on_runtime(
    program: &str,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{program}: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(work);
    // An analysis without a cancellation point may still be running on the blocking pool; its
    // job is already marked failed, so it is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: error: {e:#}");
            let users_fault = matches!(
                e.downcast_ref::<crate::StoreError>(),
                Some(
                    crate::StoreError::Duplicate(_)
                        | crate::StoreError::NotFound(_)
                        | crate::StoreError::Invalid(_)
                )
            );
            if users_fault {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
