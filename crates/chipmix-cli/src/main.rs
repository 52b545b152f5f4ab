//! The `chipmix` command: argument parsing, reading files, and printing. Every decision lives in
//! the library crates; this binary only wires them to the terminal.
//!
//! Exit codes: 0 success, 1 internal error, 2 bad input, 3 infeasible portfolio.

mod args;
mod catalog_cmd;
mod estimate_cmd;
mod export_cmd;
mod models_cmd;
mod months_cmd;
mod output;
mod plan_cmd;
mod progress;
mod risk_cmd;
mod simulate_cmd;
mod validate_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "chipmix",
    version,
    about = "Plan AI compute across chip vendors and clouds",
    long_about = "chipmix plans training and inference across NVIDIA, AWS Trainium/Inferentia, Google TPU, AMD and Intel chips on several clouds.\n\nExit codes: 0 success, 1 internal error, 2 bad input, 3 infeasible portfolio."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chips and offerings in the catalog
    #[command(subcommand)]
    Catalog(catalog_cmd::CatalogCommand),
    /// Model architectures and their parameter counts
    #[command(subcommand)]
    Models(models_cmd::ModelsCommand),
    /// Check a portfolio file and report every problem at once
    Validate(validate_cmd::ValidateArgs),
    /// Predict what a workload achieves on a chip: prefill, decode, train, serve
    #[command(subcommand)]
    Estimate(estimate_cmd::EstimateCommand),
    /// Choose the cost-minimal mix for a portfolio (MILP, solved by HiGHS)
    Plan(plan_cmd::PlanArgs),
    /// What walking away from each vendor and provider costs, and how far their prices can rise
    /// before work moves
    Leverage(risk_cmd::LeverageArgs),
    /// Apply a shock scenario (shortage, outage, price hike, demand surge) to the plan
    Stress(risk_cmd::StressArgs),
    /// The optimal cost as one numeric policy field varies (the price of diversification)
    Sweep(risk_cmd::SweepArgs),
    /// Random supply shocks: distribution of unserved demand and of re-planned cost
    Montecarlo(risk_cmd::MonteCarloArgs),
    /// Run the plan against job and traffic traces: four scheduling policies, outages, spot
    Simulate(simulate_cmd::SimulateArgs),
    /// Serve the HTTP API (SQLite by default, PostgreSQL with --db postgres://…)
    Serve(chipmix_server::cli::ServerArgs),
    /// Create, revoke or list the server's API tokens
    #[command(subcommand)]
    Token(chipmix_server::cli::TokenCommand),
    /// Write the plan for the engines that run it: Kueue objects or SkyPilot task YAML
    #[command(subcommand)]
    Export(export_cmd::ExportCommand),
    /// Fit the per-chip efficiency parameters to published measurements and report the error
    Calibrate(estimate_cmd::CalibrateArgs),
}

/// Why a command failed; decides the exit code.
pub enum Failure {
    /// The user's input is wrong: each line says where and what.
    BadInput(Vec<String>),
    /// The input is valid but no plan satisfies it; each line says what blocks it.
    Infeasible(Vec<String>),
    /// chipmix itself failed.
    Internal(String),
}

impl Failure {
    pub fn bad(message: impl Into<String>) -> Failure {
        Failure::BadInput(vec![message.into()])
    }
}

pub type CmdResult = Result<(), Failure>;

fn main() -> ExitCode {
    // `chipmix plan … | head` closes the pipe early: end quietly like other Unix tools instead of
    // panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => return chipmix_server::cli::serve_main(args, "chipmix"),
        Command::Token(command) => {
            return chipmix_server::cli::token_main(command, "chipmix");
        }
        Command::Catalog(cmd) => catalog_cmd::run(cmd),
        Command::Models(cmd) => models_cmd::run(cmd),
        Command::Validate(args) => validate_cmd::run(args),
        Command::Estimate(cmd) => estimate_cmd::run(cmd),
        Command::Calibrate(args) => estimate_cmd::calibrate(args),
        Command::Plan(args) => plan_cmd::run(args),
        Command::Leverage(args) => risk_cmd::leverage(args),
        Command::Stress(args) => risk_cmd::stress(args),
        Command::Sweep(args) => risk_cmd::sweep(args),
        Command::Montecarlo(args) => risk_cmd::montecarlo(args),
        Command::Export(cmd) => export_cmd::run(cmd),
        Command::Simulate(args) => simulate_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(lines)) => {
            for line in &lines {
                eprintln!("{line}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Infeasible(lines)) => {
            for line in &lines {
                eprintln!("{line}");
            }
            ExitCode::from(3)
        }
        Err(Failure::Internal(message)) => {
            eprintln!("internal error: {message}");
            ExitCode::from(1)
        }
    }
}
