//! The command line: parses arguments, runs the pipeline (source → image → checks → report),
//! writes the report and maps the outcome to an exit code. It is the only module that reads argv,
//! terminals and exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use jiff::civil::Date;

use crate::checks::{self, CheckContext};
use crate::image::{Image, LoadOptions};
use crate::report::{Format, ImageSummary, Report, ReportContext};
use crate::score::Gate;
use crate::severity::Severity;
use crate::source::{self, PlatformSpec, SourceOptions};

/// Exit code when the audit ran and the gate passed.
pub const EXIT_OK: u8 = 0;
/// Exit code when the audit ran and the release gate failed.
pub const EXIT_GATE_FAILED: u8 = 1;
/// Exit code for usage and input errors; no audit result exists.
pub const EXIT_ERROR: u8 = 2;

/// Audit a container image for root users, shells, baked-in secrets, musl bases and
/// end-of-life Node.js.
#[derive(Debug, Parser)]
#[command(name = "imgaudit", version, about, after_help = EXIT_CODES_HELP)]
pub struct Args {
    /// Image to audit: a `docker save` or `podman save` archive, an OCI archive, or an OCI
    /// layout directory.
    pub image: PathBuf,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Fail (exit 1) when a finding of this severity or above remains.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,

    /// Fail (exit 1) when the score is below N (0-100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub min_score: Option<u32>,

    /// Judge dates (Node.js end of life) as of this day, YYYY-MM-DD, for reproducible runs.
    #[arg(long, value_name = "YYYY-MM-DD", env = "IMGAUDIT_NOW")]
    pub now: Option<Date>,

    /// Platform to audit in a multi-platform image, os/arch[/variant]; defaults to the host's.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<PlatformSpec>,

    /// Image to audit in an archive that contains several: name, name:tag or 0-based position.
    #[arg(long = "image", value_name = "NAME")]
    pub image_name: Option<String>,

    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

const EXIT_CODES_HELP: &str = "Exit codes:\n  0  audit ran and the gate passed\n  1  audit ran and the gate failed (--fail-on, --min-score)\n  2  usage or input error: no audit result";

/// Parses argv, runs the audit and returns the process exit code.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::from(EXIT_OK)
                }
                _ => ExitCode::from(EXIT_ERROR),
            };
        }
    };
    init_logging(args.verbose);
    match run(&args) {
        Ok(report) if report.gate.passed => ExitCode::from(EXIT_OK),
        Ok(_) => ExitCode::from(EXIT_GATE_FAILED),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IMGAUDIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs one audit and writes the report.
pub fn run(args: &Args) -> Result<Report> {
    let today = args
        .now
        .unwrap_or_else(|| jiff::ZonedDateTime::now().date());
    let path = &args.image;
    let options = SourceOptions {
        platform: args.platform.clone(),
        image: args.image_name.clone(),
    };

    let source =
        source::open(path, &options).with_context(|| format!("cannot audit {}", path.display()))?;

    let load_options = LoadOptions {
        requested_platform: args.platform.clone(),
    };
    let image = Image::load(source, &load_options)
        .with_context(|| format!("cannot audit {}", path.display()))?;
    if image.layers.is_empty() {
        tracing::warn!("the image has no layers; only its config can be audited");
    }

    let ctx = CheckContext::new(&image, today);
    let outcomes = checks::run_all(&ctx);

    let report = Report::build(
        ReportContext {
            image: ImageSummary {
                identity: image.identity.clone(),
                base_os: ctx.os_release.as_ref().map(|os| os.display_name()),
            },
            audit_date: today.to_string(),
            gate: Gate {
                fail_on: args.fail_on,
                min_score: args.min_score,
            },
            warnings: image.warnings.clone(),
        },
        outcomes,
    );

    write_report(args, &report.render(args.format))?;
    Ok(report)
}

fn write_report(args: &Args, text: &str) -> Result<()> {
    match &args.output {
        Some(path) => {
            if path.is_dir() {
                bail!(
                    "--output {} is a directory; give a file path",
                    path.display()
                );
            }
            std::fs::write(path, text)
                .with_context(|| format!("failed to write the report to {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("failed to write the report to stdout")
        }
    }
}
