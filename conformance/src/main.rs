//! `mtls-conformance [--json] [--failures] [--profile default|strict] [--raw-webpki | --compare]
//! [LIMBO.json]`: runs the x509-limbo suite through the gateway's verification path and prints
//! the per-feature table (`--failures`: and every failing id with its reason; `--profile
//! strict`: the trust domain's strict certificate profile; `--raw-webpki`: through raw
//! rustls-webpki instead; `--compare`: both, and the ids where they disagree). The suite is
//! `LIMBO.json`, else `$MTLS_LIMBO`, else `../shared/conformance/limbo/limbo.json` from the
//! workspace root. Exit 0 when it ran, 2 on a usage error or an unreadable suite.

use std::path::PathBuf;
use std::process::ExitCode;

use mtls_conformance::{CaseResult, Limbo, Report, Verifier, report, run_suite, suite_path};

const USAGE: &str = "usage: mtls-conformance [--json] [--failures] [--profile default|strict] \
                     [--raw-webpki | --compare] [LIMBO.json]";

struct Args {
    json: bool,
    failures: bool,
    verifiers: Vec<Verifier>,
    path: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        json: false,
        failures: false,
        verifiers: vec![Verifier::Gateway],
        path: suite_path(),
    };
    let mut strict = false;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--profile" => {
                strict = match argv.next().as_deref() {
                    Some("strict") => true,
                    Some("default") => false,
                    Some(other) => {
                        return Err(format!(
                            "--profile: unknown profile `{other}`, expected `default` or `strict`"
                        ));
                    }
                    None => return Err("--profile needs a value: `default` or `strict`".into()),
                };
            }
            "--json" => args.json = true,
            "--failures" => args.failures = true,
            "--raw-webpki" => args.verifiers = vec![Verifier::RawWebpki],
            "--compare" => args.verifiers = vec![Verifier::Gateway, Verifier::RawWebpki],
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            path => args.path = PathBuf::from(path),
        }
    }
    if strict {
        for verifier in &mut args.verifiers {
            if *verifier == Verifier::Gateway {
                *verifier = Verifier::GatewayStrict;
            }
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mtls-conformance: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limbo = match Limbo::load(&args.path) {
        Ok(limbo) => limbo,
        Err(e) => {
            eprintln!("mtls-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let reports: Vec<Report> = args
        .verifiers
        .iter()
        .map(|v| run_suite(&limbo, *v))
        .collect();
    if args.json {
        print_json(&args, &reports);
    } else {
        for r in &reports {
            print_text(&args, r);
        }
        if let [gateway, raw] = reports.as_slice() {
            print_differences(gateway, raw);
        }
    }
    ExitCode::SUCCESS
}

fn print_json(args: &Args, reports: &[Report]) {
    let runs: Vec<_> = reports
        .iter()
        .map(|r| {
            let failures: Vec<&CaseResult> = if args.failures {
                r.failures().collect()
            } else {
                Vec::new()
            };
            serde_json::json!({ "summary": r.summary, "failures": failures })
        })
        .collect();
    println!("{}", serde_json::Value::Array(runs));
}

fn print_text(args: &Args, report: &Report) {
    println!("== {} ==", report::verifier_name(report.summary.verifier));
    print!("{}", report.summary.table());
    if args.failures {
        println!("failing testcases:");
        for f in report.failures() {
            let got = if f.accepted { "accepted" } else { "rejected" };
            let purpose = mtls_conformance::deliberate(&f.id)
                .map(|why| format!(" [on purpose: {why}]"))
                .unwrap_or_default();
            println!(
                "  {} {} (expected {:?}, {got} at {:?}): {}{purpose}",
                f.kind, f.id, f.expected, f.stage, f.reason
            );
            for note in &f.notes {
                println!("      note: {note}");
            }
        }
        println!();
    }
    println!("{}", report.summary.line());
}

fn print_differences(gateway: &Report, raw: &Report) {
    println!("testcases where the gateway and raw webpki disagree:");
    for (g, r) in gateway.results.iter().zip(&raw.results) {
        if g.passed != r.passed {
            println!(
                "  {} {}: gateway {} ({}), raw webpki {} ({})",
                g.kind,
                g.id,
                if g.passed { "passes" } else { "fails" },
                g.reason,
                if r.passed { "passes" } else { "fails" },
                r.reason
            );
        }
    }
}
