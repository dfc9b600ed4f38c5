//! Runs full mTLS handshakes of one point of a scale curve ([`mtls_benches::scale`]) and prints
//! the server's thread CPU time per handshake as a JSON line. Made for callgrind, whose
//! instruction counts do not depend on the machine's load (`benches/scale.sh` runs it so):
//! the handshakes counted run inside `measured`, the server's side inside `server_flight` and
//! `after_handshake`.
//!
//! ```text
//! target/release/scale --dimension anchors --size 10000 --handshakes 20 --cache /tmp/scale
//! ```

use std::path::PathBuf;

use clap::Parser;
use mtls_benches::cases::Case;
use mtls_benches::fixtures::SERVER_NAME;
use mtls_benches::pipe::Pipe;
use mtls_benches::scale::{Dimension, case};

#[derive(Parser, Debug)]
struct Args {
    /// anchors, anchors_root_leaf, crl_entries, hosts, routes or principals.
    #[arg(long)]
    dimension: String,
    /// The size along that dimension.
    #[arg(long)]
    size: usize,
    /// Handshakes measured (after two unmeasured ones).
    #[arg(long, default_value_t = 20)]
    handshakes: u32,
    /// Where large generated bundles are kept between runs.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Do not read the CPU clock (under valgrind, where rustix's vDSO clock cannot start).
    #[arg(long)]
    no_clock: bool,
}

/// The handshakes counted: callgrind's `--zero-before='*measured*'` forgets the setup.
#[inline(never)]
fn measured(case: &Case, pipe: &mut Pipe, n: u32) {
    for _ in 0..n {
        case.run(pipe);
    }
}

fn main() {
    let args = Args::parse();
    let Some(dimension) = Dimension::from_name(&args.dimension) else {
        eprintln!("unknown dimension {:?}", args.dimension);
        std::process::exit(2);
    };
    let case = case(dimension, args.size, args.cache.as_deref());
    let mut pipe = Pipe::new(SERVER_NAME);
    if args.no_clock {
        pipe = pipe.without_clock();
    }
    // The first handshake fills the verifier's caches; the second is a returning one.
    for _ in 0..2 {
        case.run(&mut pipe);
    }
    pipe.take_server_time();
    measured(&case, &mut pipe, args.handshakes);
    let per = pipe.take_server_time() / args.handshakes.max(1);
    println!(
        r#"{{"dimension":"{}","size":{},"handshakes":{},"server_cpu_us":{:.1}}}"#,
        dimension.name(),
        args.size,
        args.handshakes,
        per.as_secs_f64() * 1e6
    );
}
