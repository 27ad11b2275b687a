//! The `s3ftpd` command: demo mode, `serve`, `check-config`, `hash-password`.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use s3ftpd::config::Config;
use s3ftpd::{Gateway, auth};

/// jemalloc, with its background threads purging freed pages, gives the
/// memory of a load peak back to the system (glibc's malloc kept most of
/// it for good: BENCHMARKS.md, "Memory after load").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long running transfers may continue after SIGINT/SIGTERM.
const DRAIN: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(
    version,
    about = "FTP server whose file system is an S3 bucket.\n\nWithout a subcommand: demo mode (embedded S3 store under ./s3ftpd-data, FTP on 127.0.0.1:2121, user demo / demo)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve FTP as configured.
    Serve {
        /// Config file (YAML).
        #[arg(short, long, default_value = "/etc/s3ftpd/s3ftpd.yaml")]
        config: PathBuf,
    },
    /// Validate a config file, check that its bucket answers, and print the
    /// effective config (secrets masked).
    CheckConfig {
        /// Config file (YAML).
        #[arg(short, long)]
        config: PathBuf,
        /// Do not ask S3 (the file alone is checked).
        #[arg(long)]
        offline: bool,
    },
    /// Read a password on stdin, print its argon2id PHC string.
    HashPassword,
    /// Ask the running gateway's health endpoint (`metrics.listen` of the
    /// config): exit 0 when it answers 200. The container image's
    /// HEALTHCHECK (it has no shell and no curl).
    Healthcheck {
        /// Config file (YAML), for `metrics.listen`.
        #[arg(short, long, default_value = "/etc/s3ftpd/s3ftpd.yaml")]
        config: PathBuf,
        /// Ask `/readyz` (S3 reachable, not draining) instead of `/healthz`.
        #[arg(long)]
        ready: bool,
    },
}

/// `healthcheck`: the gateway's own endpoint, asked on loopback.
fn healthcheck(path: &std::path::Path, ready: bool) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(addr) = config.metrics.listen else {
        eprintln!("error: no health endpoint: set `metrics.listen` (S3FTPD_METRICS_LISTEN)");
        return ExitCode::FAILURE;
    };
    let what = if ready { "/readyz" } else { "/healthz" };
    match s3ftpd::observe::http::check(addr, what, Duration::from_secs(3)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `log.level`, or RUST_LOG when it is set and parses: `level` or
    // `target=level` directives, comma-separated.
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| config.log.level.parse().ok())
        .unwrap_or_default();
    // Colour only on a terminal (not in a file, a pipe or `docker logs`),
    // and never with NO_COLOR set.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    if config.log.format == "json" {
        registry.with(layer.json()).init();
    } else {
        registry.with(layer).init();
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn serve(
    config: Config,
    path: Option<PathBuf>,
    warning: Option<String>,
) -> anyhow::Result<()> {
    let demo = path.is_none();
    init_logging(&config);
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    // Every session, data connection and S3 connection is a descriptor:
    // take the whole hard limit (systemd: LimitNOFILE).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "descriptor limit (RLIMIT_NOFILE)"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
    }
    let data_dir = config.s3.data_dir.clone();
    let bucket = config.s3.bucket.clone();
    let demo_user = config
        .users
        .first()
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let gateway = std::sync::Arc::new(Gateway::start(config).await?);
    let addr = gateway.ftp_addr();
    #[cfg(unix)]
    {
        let g = gateway.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                reload(&g, path.as_deref()).await;
            }
        });
    }
    if demo {
        println!("s3ftpd demo mode");
        println!(
            "  FTP  ftp://{demo_user}:{demo_user}@{addr}/   (user {demo_user}, password {demo_user})"
        );
        println!(
            "       lftp -u {demo_user},{demo_user} {} -p {}",
            addr.ip(),
            addr.port()
        );
    } else {
        println!("s3ftpd serving FTP on {addr}");
    }
    if let Some(ftps) = gateway.ftps_addr() {
        println!("  implicit FTPS on {ftps}");
    }
    if let Some(e) = gateway.embedded() {
        println!(
            "  S3   endpoint {}  bucket {bucket}  region us-east-1  (path-style)",
            e.endpoint
        );
        // The demo's well-known keys are printed; a configured secret never is.
        let secret = if e.secret_key == s3ftpd::server::EMBEDDED_SECRET_KEY {
            e.secret_key.as_str()
        } else {
            "(s3.secret_access_key)"
        };
        println!("       access key {}  secret key {secret}", e.access_key);
        println!("       objects stored under {}", data_dir.display());
    }
    wait_for_signal().await;
    gateway.shutdown(DRAIN).await;
    Ok(())
}

/// SIGHUP: the config file again (accounts, profiles, limits per account,
/// the certificate); demo mode has no file, only a certificate to renew.
#[cfg(unix)]
async fn reload(gateway: &Gateway, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        match gateway.reload_tls() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: TLS reload failed; keeping the old certificate");
            }
        }
        return;
    };
    match gateway.reload(path).await {
        Ok(r) if r.restart_needed.is_empty() => {
            tracing::info!(file = %path.display(), "SIGHUP: reloaded");
        }
        Ok(r) => tracing::warn!(
            file = %path.display(),
            restart_needed = ?r.restart_needed,
            "SIGHUP: reloaded; some changes wait for a restart"
        ),
        Err(e) => tracing::error!(
            file = %path.display(),
            error = %e,
            "SIGHUP: the config file does not load; the running configuration stays"
        ),
    }
}

/// `check-config`: the file, then (unless `offline`) the bucket.
fn check_config(path: &std::path::Path, offline: bool) -> ExitCode {
    let c = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(w) = Config::permission_warning(path) {
        eprintln!("warning: {w}");
    }
    for w in c.shared_roots().into_iter().chain(c.identity_warnings()) {
        eprintln!("warning: {w}");
    }
    print!("{}", c.to_masked_yaml());
    // The identity sources' files (CA files) are checked even offline.
    let identity = match s3ftpd::auth::Identity::from_config(std::sync::Arc::new(c.clone())) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !offline {
        let probe = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(async {
                    s3ftpd::server::probe_buckets(&c)
                        .await
                        .map_err(|e| e.to_string())?;
                    identity.probe().await
                })
            });
        if let Err(e) = probe {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "{}: OK{}",
        path.display(),
        if offline {
            " (S3 and the identity sources not asked: --offline)"
        } else {
            ""
        }
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match &cli.command {
        None => Config::demo(),
        Some(Cmd::Serve { config }) => Config::load(config),
        Some(Cmd::CheckConfig { config, offline }) => return check_config(config, *offline),
        Some(Cmd::Healthcheck { config, ready }) => return healthcheck(config, *ready),
        Some(Cmd::HashPassword) => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("error: cannot read stdin: {e}");
                return ExitCode::FAILURE;
            }
            let password = input
                .strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&input);
            if password.is_empty() {
                eprintln!("error: empty password on stdin");
                return ExitCode::FAILURE;
            }
            return match auth::hash_password(password) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let config = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // 8 MiB stacks for the workers (tokio's default is 2 MiB): an upload's
    // poll nests the session, the transfer, the commit and the SDK's
    // orchestrator some 70 frames deep, and a debug build's frames are
    // large — 2 MiB overflowed under the soak. The memory is reserved
    // address space, touched only as deep as a poll goes.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (warning, path) = match &cli.command {
        Some(Cmd::Serve { config: path }) => (Config::permission_warning(path), Some(path.clone())),
        _ => (None, None),
    };
    match runtime.block_on(serve(config, path, warning)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
