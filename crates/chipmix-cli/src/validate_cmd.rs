//! `chipmix validate FILE`

use crate::catalog_cmd::{self, CatalogFiles};
use crate::output::{self, Format};
use crate::{CmdResult, Failure};
use chipmix_workload::portfolio;
use chipmix_workload::{Diagnostic, WorkloadKind};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ValidateArgs {
    /// The portfolio file (YAML)
    file: PathBuf,
    #[command(flatten)]
    catalog: CatalogFiles,
    /// `table` prints one line per problem; `json` prints them as a list
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    file: String,
    valid: bool,
    diagnostics: &'a [Diagnostic],
}

pub fn run(args: ValidateArgs) -> CmdResult {
    let catalog = catalog_cmd::load(&args.catalog)?;
    let result = portfolio::load(&args.file, &catalog);
    let file = args.file.display().to_string();
    if args.format == Format::Json {
        let (valid, diagnostics) = match &result {
            Ok(loaded) => (true, loaded.warnings.as_slice()),
            Err(d) => (false, d.as_slice()),
        };
        output::print_json(&Report {
            file,
            valid,
            diagnostics,
        })?;
        return if valid {
            Ok(())
        } else {
            Err(Failure::BadInput(Vec::new()))
        };
    }
    match result {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            let p = &loaded.portfolio;
            let training = p
                .workloads
                .iter()
                .filter(|w| matches!(w.kind, WorkloadKind::Training(_)))
                .count();
            println!(
                "{file}: ok — portfolio `{}`: {} workloads ({} training, {} inference), {} contracts, {} offering overrides",
                p.name,
                p.workloads.len(),
                training,
                p.workloads.len() - training,
                p.contracts.len(),
                p.offering_overrides.len()
            );
            Ok(())
        }
        Err(diagnostics) => {
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == chipmix_workload::Severity::Error)
                .count();
            let mut lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
            lines.push(format!("{file}: {errors} error(s)"));
            Err(Failure::BadInput(lines))
        }
    }
}
