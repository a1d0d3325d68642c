//! The reference VTEP: joins TAP devices to VXLAN and NVGRE overlays, over an IPv4 or
//! IPv6 underlay or both (`local_ip`, and `local_ip6` for dual stack).
//!
//! ```text
//! vtep --config vtep.toml [--control /run/vtep.sock]   # run until SIGINT or SIGTERM (SIGHUP: ignored)
//! vtep ctl /run/vtep.sock fdb|stats|evpn              # ask a running vtep, print JSON
//! ```
//!
//! A configuration mistake exits with status 2 and a message naming the key. Built with
//! the `evpn` feature, an `[evpn]` section exchanges BGP EVPN routes through a local
//! gobgpd (`vtep ctl PATH evpn` lists them); without it, such a section is refused.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tunnelwire::linux::{Vtep, VtepConfig, control};

#[derive(Parser)]
#[command(
    name = "vtep",
    version,
    about = "The tunnelwire reference VTEP: TAP ports joined to VXLAN and NVGRE segments over IPv4 and IPv6"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    /// The TOML configuration.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Open a Unix control socket here (mode 0600), for `vtep ctl`; a stale socket is
    /// replaced, anything else there refused.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Asks a running vtep through its control socket.
    Ctl {
        /// The control socket.
        path: PathBuf,
        /// What to print.
        #[arg(value_parser = ["fdb", "stats", "evpn"])]
        what: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Ctl { path, what }) = args.command {
        let mut out = Stdout {
            out: io::stdout().lock(),
            closed: false,
        };
        let asked = control::request_to(&path, &what, &mut out).and_then(|()| out.flush());
        return match asked {
            Ok(()) => ExitCode::SUCCESS,
            // `vtep ctl PATH fdb | head`: the reader has what it wanted.
            Err(_) if out.closed => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("vtep ctl: {}: {error}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let Some(path) = args.config else {
        eprintln!("vtep: give --config FILE (or: vtep ctl PATH fdb|stats|evpn)");
        return ExitCode::from(2);
    };
    let config = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| VtepConfig::parse(&text).map_err(|e| e.to_string()))
    {
        Ok(config) => config,
        Err(error) => {
            eprintln!("vtep: {}: {error}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut vtep = match Vtep::new(&config, args.control.as_deref()) {
        Ok(vtep) => vtep,
        Err(error) => {
            eprintln!("vtep: {error}");
            return ExitCode::FAILURE;
        }
    };
    match vtep.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vtep: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output that notes when its reader has gone (a closed pipe), which is no
/// failure of `vtep ctl`.
struct Stdout {
    out: io::StdoutLock<'static>,
    closed: bool,
}

impl Stdout {
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(error) = &result {
            self.closed |= error.kind() == io::ErrorKind::BrokenPipe;
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.out.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.out.flush();
        self.note(result)
    }
}
