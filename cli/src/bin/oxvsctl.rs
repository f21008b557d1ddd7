//! oxvsctl: controls a running oxvsd over its unix socket.

use std::process::ExitCode;

use oxvs_cli::args::{self, Command, Format};
use oxvs_cli::daemon::default_rundir;
use oxvs_cli::display::render;
use oxvs_cli::proto::{self, CtlResponse};

fn main() -> ExitCode {
    let inv = match args::parse(std::env::args().skip(1)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("oxvsctl: {e}");
            return ExitCode::from(2);
        }
    };
    let req = match inv.command {
        Command::Help => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("oxvsctl {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Request(r) => r,
    };
    let rundir = inv.rundir.unwrap_or_else(default_rundir);
    match proto::call(&rundir, &req, inv.timeout) {
        Ok(CtlResponse::Ok(data)) => {
            match inv.format {
                Format::Text => print!("{}", render(&data)),
                Format::Json => match serde_json::to_string_pretty(&data) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("oxvsctl: cannot print the answer as JSON: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            }
            ExitCode::SUCCESS
        }
        Ok(CtlResponse::Error(e)) => {
            eprintln!("oxvsctl: {}", e.message);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("oxvsctl: {e}");
            ExitCode::FAILURE
        }
    }
}
