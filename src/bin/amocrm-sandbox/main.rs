//! `amocrm-sandbox`: parse the flags, serve, print the URL, stop on SIGTERM/SIGINT.

use std::io::Write;
use std::time::Duration;

mod sandbox;

// The sandbox names the module's secret type and log times as `crate::secret` and
// `crate::log`, in this binary and in the library's own tests, which build it too.
use billmgr_amocrm::{log, secret};

use sandbox::{args, signal};

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let options = match args::parse(&argv) {
        Ok(args::Command::Help) => {
            print!("{}", args::help());
            return;
        }
        Ok(args::Command::Run(options)) => options,
        Ok(args::Command::Load {
            url,
            requests,
            threads,
        }) => {
            match sandbox::load::run(&url, "sandbox-client", "sandbox-secret", requests, threads) {
                Ok(rate) => {
                    println!("{rate:.0}");
                    return;
                }
                Err(e) => {
                    eprintln!("amocrm-sandbox: {e}");
                    std::process::exit(1);
                }
            }
        }
        Ok(args::Command::Show(url)) => match sandbox::show::fetch(&url) {
            Ok(text) => {
                print!("{text}");
                return;
            }
            Err(e) => {
                eprintln!("amocrm-sandbox: {e}");
                std::process::exit(1);
            }
        },
        Err(e) => {
            eprintln!("amocrm-sandbox: {e}; see amocrm-sandbox --help");
            std::process::exit(2);
        }
    };
    signal::install();
    let server = match sandbox::serve(options) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("amocrm-sandbox: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", server.url());
    let _ = out.flush();
    while !signal::requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
}
