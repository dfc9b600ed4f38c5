//! Paired ratios ours / raw rustls for the handshake cases of the `handshake` bench, robust to
//! a shared machine.
//!
//! Criterion measures one case after another; on a machine where other processes come and go
//! (and may run on the sibling hyperthread), two cases measured a minute apart differ by a few
//! percent for reasons of their own. This bench interleaves the two cases of each pair instead:
//! each round runs a block of handshakes of A, two of B, one more of A (ABBA), and the ratio is
//! taken per round; it prints the median ratio over the rounds, its spread (25th–75th
//! percentile), and the median CPU µs per handshake of each side, for the server-side calls
//! alone and for the whole in-memory exchange.
//!
//! `cargo bench -p mtls-benches --bench handshake_ratio [-- --rounds N] [-- FILTER]`;
//! `-- --test` (or `--quick`) runs one short round per pair, as a smoke test.

use mtls_benches::cases::{Case, cases};
use mtls_benches::cpu;
use mtls_benches::fixtures::{SERVER_NAME, label};
use mtls_benches::pipe::Pipe;
use mtls_testkit::KeyAlg;

/// (ours, the raw rustls case it is compared with).
const PAIRS: [(&str, &str); 8] = [
    ("ours", "raw"),
    ("ours_allow10k", "raw"),
    ("ours_crl1000", "raw_crl1000"),
    ("ours_crl1000_allow10k", "raw_crl1000"),
    ("ours_resumed_allow10k", "raw_resumed"),
    ("ours_resumed_ticket_allow10k", "raw_resumed_ticket"),
    ("raw_crl1000", "raw"),
    ("raw_prefer_aes128", "raw"),
];

/// CPU µs per handshake of one block: (server-side calls, whole exchange).
fn block(pipe: &mut Pipe, case: &Case, n: u32) -> (f64, f64) {
    pipe.take_server_time();
    let whole = cpu::measure(u64::from(n), || case.run(pipe));
    let server = pipe.take_server_time();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / f64::from(n);
    (per(server), per(whole))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn quartiles(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 4], v[(v.len() * 3) / 4])
}

fn main() {
    let mut rounds = 15usize;
    let mut per_block = 20u32;
    let mut filter: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds N");
            }
            "--test" | "--quick" => {
                rounds = 1;
                per_block = 2;
            }
            // What cargo bench or criterion-style command lines add.
            other if other.starts_with("--") => {}
            other => filter = Some(other.to_owned()),
        }
    }
    let rounds = rounds.max(1);

    let mut pipe = Pipe::new(SERVER_NAME);
    println!(
        "| client chain | ours | raw | server µs ours | server µs raw | server ratio (p25–p75) \
         | whole µs ours | whole µs raw | whole ratio (p25–p75) |"
    );
    println!("|---|---|---|---:|---:|---|---:|---:|---|");
    for alg in KeyAlg::ALL {
        let label = label(alg);
        let all = cases(alg, &mut pipe);
        let find = |name: &str| {
            all.iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no case {name}"))
        };
        for (a, b) in PAIRS {
            let id = format!("{label}/{a}/{b}");
            if filter.as_ref().is_some_and(|f| !id.contains(f.as_str())) {
                continue;
            }
            let (ours, raw) = (find(a), find(b));
            // Warm both up.
            block(&mut pipe, ours, per_block);
            block(&mut pipe, raw, per_block);
            let (mut sa, mut sb, mut wa, mut wb) = (vec![], vec![], vec![], vec![]);
            let (mut sr, mut wr) = (vec![], vec![]);
            for _ in 0..rounds {
                let a1 = block(&mut pipe, ours, per_block);
                let b1 = block(&mut pipe, raw, per_block);
                let b2 = block(&mut pipe, raw, per_block);
                let a2 = block(&mut pipe, ours, per_block);
                let (s_a, w_a) = ((a1.0 + a2.0) / 2.0, (a1.1 + a2.1) / 2.0);
                let (s_b, w_b) = ((b1.0 + b2.0) / 2.0, (b1.1 + b2.1) / 2.0);
                sa.push(s_a);
                sb.push(s_b);
                wa.push(w_a);
                wb.push(w_b);
                sr.push(s_a / s_b);
                wr.push(w_a / w_b);
            }
            let (s25, s75) = quartiles(&mut sr);
            let (w25, w75) = quartiles(&mut wr);
            println!(
                "| {label} | {a} | {b} | {:.1} | {:.1} | **{:.3}** ({s25:.3}–{s75:.3}) \
                 | {:.1} | {:.1} | **{:.3}** ({w25:.3}–{w75:.3}) |",
                median(&mut sa),
                median(&mut sb),
                median(&mut sr),
                median(&mut wa),
                median(&mut wb),
                median(&mut wr),
            );
        }
    }
}
