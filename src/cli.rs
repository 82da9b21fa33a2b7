//! The command line: parses arguments, runs the pipeline (source → image → checks → report),
//! writes the report and maps the outcome to an exit code. It is the only module that reads argv,
//! terminals and exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use jiff::civil::Date;

use crate::checks::{self, CheckContext};
use crate::config_file;
use crate::image::cache::LayerCache;
use crate::image::{Image, LoadOptions, stream};
use crate::report::{Format, ImageSummary, Report, ReportContext};
use crate::score::Gate;
use crate::secrets::Scanner;
use crate::severity::Severity;
use crate::source::registry::{CredentialSources, RegistryOptions};
use crate::source::{self, InputKind, PlatformSpec, SourceOptions};
use crate::tar_guard::Limits;

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
    /// Image to audit: a `docker save` or `podman save` archive (optionally gzip- or
    /// zstd-compressed), an OCI archive, an OCI layout directory, `-` for an archive on stdin,
    /// or a registry reference such as registry.example.com/team/app:1.2.
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

    /// Treat IMAGE as a file or as a registry reference; by default an existing path is a
    /// file and anything else is a reference (a `docker://` prefix also forces a reference).
    #[arg(long, value_enum, value_name = "KIND")]
    pub input: Option<InputChoice>,

    /// Registry host (`host` or `host:port`) that may be reached over plain HTTP; repeatable.
    /// Loopback registries are always allowed.
    #[arg(long, value_name = "HOST")]
    pub insecure_registry: Vec<String>,

    /// PEM file of CA certificates to trust for registries, in addition to the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Refuse registry images whose layers add up to more than SIZE stored bytes, before
    /// downloading them (bytes or with a KiB/MiB/GiB/TiB suffix).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_image_size: Option<u64>,

    /// Registry timeout, in seconds: the longest wait for response headers and for each read
    /// of a response body (a slow but steady download never times out).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub registry_timeout: u64,

    /// Retries after a failed registry request or an interrupted download.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Maximum uncompressed size of one layer, in bytes or with a KiB/MiB/GiB/TiB suffix.
    #[arg(long, value_name = "SIZE", default_value = "16GiB", value_parser = parse_size)]
    pub max_layer_bytes: u64,

    /// Maximum uncompressed size of all layers together, in bytes or with a suffix.
    #[arg(long, value_name = "SIZE", default_value = "64GiB", value_parser = parse_size)]
    pub max_image_bytes: u64,

    /// Maximum number of tar entries in one layer.
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    pub max_layer_entries: u64,

    /// Configuration file with secret rules, allowlists and skip rules (TOML, see
    /// docs/configuration.md); defaults to .imgaudit.toml in the working directory if present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// gitleaks TOML file whose rules and allowlists run next to the built-in secret rules;
    /// replaces `secrets.gitleaks_config` of the configuration file.
    #[arg(long, value_name = "FILE")]
    pub gitleaks_config: Option<PathBuf>,

    /// After a table report, explain the secret scan: rules, files each skip rule left
    /// unread, findings each allowlist suppressed, truncations. JSON always has it as `scan`.
    #[arg(long)]
    pub explain: bool,

    /// Cache layer results in DIR, keyed by layer digest, so that images sharing layers are
    /// read faster; entries never hold secret values.
    #[arg(long, value_name = "DIR", env = "IMGAUDIT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// How to read the IMAGE argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputChoice {
    File,
    Registry,
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
            eprintln!("error: {}", error_chain(&err));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Joins an error and its causes with `: `, skipping a cause whose text the message already
/// contains (library errors often repeat their source in their own message).
fn error_chain(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("IMGAUDIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The HTTP and TLS libraries log raw request and response bytes at debug and trace
    // level, Authorization headers and config blobs included. They are capped at info
    // whatever the verbosity, so that no log level can print a credential.
    for directive in ["ureq=info", "ureq_proto=info", "rustls=info"] {
        filter = filter.add_directive(directive.parse().expect("static log directive"));
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Runs one audit and writes the report.
pub fn run(args: &Args) -> Result<Report> {
    let today = args
        .now
        .unwrap_or_else(|| jiff::ZonedDateTime::now().date());
    let path = &args.image;
    check_output_path(args)?;
    let options = SourceOptions {
        platform: args.platform.clone(),
        image: args.image_name.clone(),
    };

    let (scanner, scanner_settings, config_path) = secret_scanner(args)?;
    let scanner = Arc::new(scanner);
    let limits = Limits {
        max_layer_bytes: args.max_layer_bytes,
        max_image_bytes: args.max_image_bytes,
        max_layer_entries: args.max_layer_entries,
    };
    let cache = match &args.cache_dir {
        Some(dir) => Some(
            LayerCache::open(dir, &format!("{scanner_settings}\n{limits:?}"))
                .with_context(|| format!("failed to open the cache directory {}", dir.display()))?,
        ),
        None => None,
    };
    let load_options = LoadOptions {
        requested_platform: args.platform.clone(),
        limits,
        scanner: Arc::clone(&scanner),
        cache,
    };
    let image = load_image(args, &options, &load_options)
        .with_context(|| format!("cannot audit {}", path.display()))?;
    if image.layers.is_empty() {
        tracing::warn!("the image has no layers; only its config can be audited");
    }

    scanner.log_skips();

    let ctx = CheckContext::with_scanner(&image, today, Arc::clone(&scanner));
    let outcomes = checks::run_all(&ctx);
    let mut warnings = image.warnings.clone();
    // A configuration file can turn rules off, so every report names the one that shaped it.
    if let Some(config_path) = &config_path {
        warnings.push(format!(
            "secret rules, allowlists and skips were read from {}",
            config_path.display()
        ));
    }
    warnings.extend(scanner.warnings().iter().cloned());
    if let Some(stale) = stale_release_table(today) {
        warnings.push(stale);
    }

    let mut report = Report::build(
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
            warnings,
        },
        outcomes,
    );
    report.scan = Some(scanner.summary());

    let mut text = report.render(args.format);
    if args.explain && args.format == Format::Table {
        text.push_str(&report.render_scan());
    }
    write_report(args, &text)?;
    Ok(report)
}

/// Builds the secret scanner from the configuration file and `--gitleaks-config`.
/// Also returns a description of the settings, which keys the layer cache.
/// The third value is the configuration file read, if any.
fn secret_scanner(args: &Args) -> Result<(Scanner, String, Option<PathBuf>)> {
    let cwd = std::env::current_dir().context("failed to read the working directory")?;
    let (config, path) = config_file::load(
        args.config.as_deref(),
        &cwd,
        args.gitleaks_config.as_deref(),
    )?;
    let label = match &path {
        Some(path) => {
            tracing::info!(path = %path.display(), "read config file");
            path.display().to_string()
        }
        None => "the secret configuration".to_owned(),
    };
    let settings = format!("{config:?}");
    let scanner = Scanner::with_config(&config)
        .with_context(|| format!("invalid rules or allowlists in {label}"))?;
    Ok((scanner, settings, path))
}

/// Parses `1048576`, `512KiB`, `64MiB`, `16GiB` or `1TiB` (also `K`, `M`, `G`, `T`, `KB`…,
/// all binary multiples) into bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected a number of bytes such as 512MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "invalid size unit in {text:?}: use KiB, MiB, GiB or TiB"
            ));
        }
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Loads the image from a path, a compressed archive, stdin (`-`) or a registry.
fn load_image(args: &Args, options: &SourceOptions, load_options: &LoadOptions) -> Result<Image> {
    let path = args.image.as_path();
    if path.as_os_str() == "-" {
        let stdin: Box<dyn std::io::Read + Send> = Box::new(std::io::stdin());
        return Ok(stream::load_stream(stdin, path, options, load_options)?);
    }
    let text = path.to_string_lossy();
    let registry = match args.input {
        Some(InputChoice::Registry) => true,
        Some(InputChoice::File) => false,
        None => {
            let guessed = !text.starts_with("docker://")
                && !path.exists()
                && source::registry::looks_like_reference(&text);
            if guessed {
                tracing::warn!(
                    "no file named {text}; pulling it as a registry reference (use --input file to treat it as a file)"
                );
            }
            guessed || text.starts_with("docker://")
        }
    };
    if registry {
        let registry_options = RegistryOptions {
            insecure_registries: args.insecure_registry.clone(),
            ca_file: args.ca_file.clone(),
            timeout: std::time::Duration::from_secs(args.registry_timeout),
            retries: args.retries,
            max_image_size: args.max_image_size,
            credentials: CredentialSources::from_env(),
        };
        let source = source::registry::open(&text, options, &registry_options)?;
        return Ok(Image::load(source, load_options)?);
    }
    // A missing path with a `host:port` or `:tag` part was meant as a reference.
    let reference_like = text.contains(':') && !text.starts_with('/') && !text.starts_with('.');
    if !path.exists()
        && reference_like
        && let Err(err) = source::registry::parse_reference(&text)
    {
        bail!(
            "{text}: no such file or directory, and not a valid image reference either ({err}); check the path"
        );
    }
    match source::detect(path)? {
        InputKind::RandomAccess => {
            let source = source::open(path, options)?;
            Ok(Image::load(source, load_options)?)
        }
        InputKind::Stream => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("failed to open {}", path.display()))?;
            Ok(stream::load_stream(
                Box::new(file),
                path,
                options,
                load_options,
            )?)
        }
    }
}

/// Warns when the audit date is more than a year past the embedded release table, whose
/// statuses for newer Node.js lines may then be wrong.
fn stale_release_table(today: jiff::civil::Date) -> Option<String> {
    let as_of = crate::nodejs::TABLE_AS_OF;
    // Spans between civil dates are counted in days.
    let days = as_of.until(today).ok()?.get_days();
    (days > 365).then(|| {
        format!(
            "the Node.js release table is from {as_of}, more than a year before the audit date {today}; update imgaudit for current end-of-life dates"
        )
    })
}

/// Rejects an `--output` path that cannot be written before the audit spends any time.
fn check_output_path(args: &Args) -> Result<()> {
    let Some(output) = &args.output else {
        return Ok(());
    };
    if output.is_dir() {
        bail!(
            "--output {} is a directory; give a file path",
            output.display()
        );
    }
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && !parent.is_dir()
    {
        bail!(
            "--output {}: the directory {} does not exist",
            output.display(),
            parent.display()
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn parse_size_accepts_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("512KiB").unwrap(), 512 * 1024);
        assert_eq!(parse_size("16GiB").unwrap(), 16 << 30);
        assert_eq!(parse_size("2m").unwrap(), 2 << 20);
    }

    #[test]
    fn parse_size_rejects_garbage() {
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999TiB").is_err());
    }
}
