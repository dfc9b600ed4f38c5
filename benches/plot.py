#!/usr/bin/env python3
"""The plots of BENCHMARKS.md, as plain SVG: Python 3 standard library only.

  python3 benches/plot.py loopback            # benches/results/loopback-runs.jsonl -> benches/loopback.svg
  python3 benches/plot.py policy              # benches/results/policy-decision.json -> benches/policy-decision.svg
  python3 benches/plot.py policy --criterion target/criterion   # from a fresh `cargo bench` first
  python3 benches/plot.py scale               # benches/results/scale.jsonl -> benches/scale.svg
  python3 benches/plot.py all                 # both, from the committed result files

loopback: one JSON line per `loadgen run` (written by benches/compare.sh). Top row: the median
rate (handshakes/s or requests/s) per server over the interleaved rounds, whiskers min-max.
Bottom row: operations per second of server CPU (1 / server CPU time per operation), the figure
that the share of the core the server got does not move.

policy: criterion's estimates of the `policy_decision` bench (benches/benches/policy_decision.rs,
group `policy_decision`, functions exact / suffix / mixed_regex, parameter = allow-list size),
read from <criterion dir>/policy_decision/<kind>/<size>/new/estimates.json. With --criterion the
estimates are also written to --data (benches/results/policy-decision.json by default), so the
plot can be drawn again from the committed file.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# server key in the JSON lines -> (legend label, colour); the order is the bar order.
SERVERS = [
    ("gateway", "mtls-gateway, `respond` 200", "#2b6cb0"),
    ("gateway_proxy", "mtls-gateway → fixed upstream", "#90cdf4"),
    ("haproxy_proxy", "HAProxy → fixed upstream", "#6b46c1"),
    ("haproxy_fixed", "HAProxy `http-request return 200`", "#b794f4"),
    ("nginx_proxy", "nginx → fixed upstream (proxy_pass)", "#c05621"),
    ("nginx_fixed", "nginx `return 200`", "#f6ad55"),
    ("raw", "raw tokio-rustls + hyper, fixed 200", "#2f855a"),
    ("raw_proxy", "raw tokio-rustls + hyper → fixed upstream", "#9ae6b4"),
]
CASES = [
    ("full_crl", "Full mTLS handshakes, CRLs loaded", "handshakes"),
    ("full_nocrl", "Full mTLS handshakes, no CRL", "handshakes"),
    ("keepalive", "Keep-alive, 100 req/connection, CRLs", "requests"),
]
KIND_STYLE = {
    # criterion function id -> (legend label, colour, marker)
    "exact": ("exact principals (URI SAN)", "#2b6cb0", "circle"),
    "suffix": ("DNS suffix rules", "#c05621", "square"),
    "mixed_regex": ("mixed exact/prefix/suffix/wildcard + RegexSet", "#2f855a", "diamond"),
}
FALLBACK_COLOURS = ["#6b46c1", "#b7791f", "#e53e3e", "#319795"]


# --------------------------------------------------------------------------------------------
# SVG helpers


def esc(text: str) -> str:
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def fmt_int(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:,.0f}"


def fmt_short(x: float) -> str:
    """Axis labels: 12,000 -> 12k."""
    if x >= 10_000:
        return f"{x / 1000:,.0f}k"
    if x >= 1000:
        return f"{x / 1000:,.1f}k".replace(".0k", "k")
    return f"{x:,.0f}" if x >= 10 or x == 0 else f"{x:.1f}"


def nice_axis(value: float) -> tuple[float, list[float]]:
    """An axis from 0 that holds value: (top, ticks), 4 to 6 steps of 1/2/2.5/5 x 10^k."""
    if value <= 0 or not math.isfinite(value):
        return 1.0, [0.0, 0.5, 1.0]
    for exp in range(math.floor(math.log10(value)) - 2, math.floor(math.log10(value)) + 2):
        for m in (1, 2, 2.5, 5):
            step = m * 10**exp
            n = math.ceil(value / step - 1e-9)
            if n <= 6:
                return n * step, [i * step for i in range(n + 1)]
    return value, [0.0, value]


class Svg:
    def __init__(self, width: float, height: float):
        self.width, self.height = width, height
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="#fff"/>',
        ]

    def add(self, s: str) -> None:
        self.parts.append(s)

    def text(self, x, y, s, anchor="start", size=None, weight=None, fill=None, rotate=None) -> None:
        attrs = [f'x="{x:.1f}"', f'y="{y:.1f}"']
        if anchor != "start":
            attrs.append(f'text-anchor="{anchor}"')
        if size:
            attrs.append(f'font-size="{size}"')
        if weight:
            attrs.append(f'font-weight="{weight}"')
        if fill:
            attrs.append(f'fill="{fill}"')
        if rotate is not None:
            attrs.append(f'transform="rotate({rotate} {x:.1f} {y:.1f})"')
        self.add(f"<text {' '.join(attrs)}>{esc(s)}</text>")

    def line(self, x1, y1, x2, y2, stroke="#000", width=1.0, dash=None) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}"{d}/>'
        )

    def rect(self, x, y, w, h, fill, title=None) -> None:
        t = f"<title>{esc(title)}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}">{t}</rect>')

    def marker(self, shape, x, y, colour, title=None) -> None:
        t = f"<title>{esc(title)}</title>" if title else ""
        if shape == "square":
            self.add(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}">{t}</rect>')
        elif shape == "diamond":
            pts = f"{x:.1f},{y - 5.5:.1f} {x + 5.5:.1f},{y:.1f} {x:.1f},{y + 5.5:.1f} {x - 5.5:.1f},{y:.1f}"
            self.add(f'<polygon points="{pts}" fill="{colour}">{t}</polygon>')
        else:
            self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}">{t}</circle>')

    def render(self) -> str:
        return "\n".join(self.parts + ["</svg>"]) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


# --------------------------------------------------------------------------------------------
# loopback


def load_runs(paths: list[Path]) -> tuple[list[dict], str]:
    """The `run` lines, and the caption of the last `{"kind": "meta", "note": ...}` line."""
    runs, note = [], ""
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: {e}")
            if value.get("kind") == "run":
                runs.append(value)
            elif value.get("kind") == "meta":
                note = value.get("note", note)
    return runs, note


def spread(values: list[float]) -> tuple[float, float, float] | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def plot_loopback(runs: list[dict], note: str) -> str:
    known = [s for s, _, _ in SERVERS]
    servers = [s for s in SERVERS if any(r.get("server") == s[0] for r in runs)]
    servers += [
        (s, s, FALLBACK_COLOURS[i % len(FALLBACK_COLOURS)])
        for i, s in enumerate(sorted({r.get("server") for r in runs} - set(known) - {None}))
    ]
    cases = [c for c in CASES if any(r.get("case") == c[0] for r in runs)]
    if not cases:
        sys.exit("no `run` lines of a known case (full_crl, full_nocrl, keepalive)")
    rows = [
        ("rate", "{unit}/s (wall clock)", lambda r: r.get("rate")),
        (
            "per_cpu",
            "{unit} per server CPU-second",
            lambda r: 1e6 / r["server_cpu_us_per_op"] if r.get("server_cpu_us_per_op") else None,
        ),
    ]

    panel_w, panel_h = 340.0, 230.0
    left, gap_x, top, gap_y = 80.0, 70.0, 104.0, 105.0
    legend_h = 22.0 * math.ceil(len(servers) / 2) + 20
    width = left + len(cases) * panel_w + (len(cases) - 1) * gap_x + 30
    height = top + len(rows) * panel_h + (len(rows) - 1) * gap_y + 62 + legend_h
    svg = Svg(width, height)

    rounds = sorted({r.get("round") for r in runs if r.get("round") is not None})
    durations = sorted({round(r.get("seconds", 0)) for r in runs})
    workers = sorted({r.get("workers") for r in runs if r.get("workers")})
    loads = [float(r["loadavg"].split()[0]) for r in runs if r.get("loadavg")]
    svg.text(left, 26, "mTLS loopback comparison: server pinned to 1 core, load generator on the other",
             size=16, weight="bold")
    sub = (
        f"{len(runs)} runs in {len(rounds)} interleaved round(s) of ≈{'/'.join(map(str, durations))} s, "
        f"{'/'.join(map(str, workers))} concurrent connections; bars: median over rounds, whiskers: min–max"
    )
    if loads:
        sub += f"; 1-min load average median {statistics.median(loads):.2f}"
    svg.text(left, 46, sub, fill="#444")
    if note:
        svg.text(left, 64, note, fill="#444", size=11)

    for ri, (row, ylabel, value_of) in enumerate(rows):
        y0 = top + ri * (panel_h + gap_y)
        for ci, (case, title, unit) in enumerate(cases):
            x0 = left + ci * (panel_w + gap_x)
            bars = []
            for server, label, colour in servers:
                sel = [r for r in runs if r.get("case") == case and r.get("server") == server]
                stats = spread([value_of(r) for r in sel])
                if stats:
                    bars.append((server, label, colour, stats, len(sel)))
            ymax, ticks = nice_axis(max((b[3][2] for b in bars), default=1.0) * 1.1)
            svg.text(x0 + panel_w / 2, y0 - 12, title, anchor="middle", weight="bold", size=13)
            # grid and y axis
            for v in ticks:
                y = y0 + panel_h - panel_h * v / ymax
                svg.line(x0, y, x0 + panel_w, y, stroke="#e2e2e2")
                svg.line(x0 - 4, y, x0, y)
                svg.text(x0 - 7, y + 4, fmt_short(v), anchor="end", size=11)
            svg.line(x0, y0, x0, y0 + panel_h)
            svg.line(x0, y0 + panel_h, x0 + panel_w, y0 + panel_h)
            svg.text(x0 - 52, y0 + panel_h / 2, ylabel.format(unit=unit), anchor="middle", size=11,
                     rotate=-90)
            if not bars:
                svg.text(x0 + panel_w / 2, y0 + panel_h / 2, "no data", anchor="middle", fill="#999")
                continue
            slot = panel_w / len(bars)
            for bi, (server, label, colour, (med, lo, hi), n) in enumerate(bars):
                bw = slot * 0.66
                bx = x0 + bi * slot + (slot - bw) / 2
                cx = bx + bw / 2

                def y_of(v: float) -> float:
                    return y0 + panel_h - panel_h * v / ymax

                svg.rect(bx, y_of(med), bw, panel_h * med / ymax, colour,
                         title=f"{label}: median {fmt_int(med)} (min {fmt_int(lo)}, max {fmt_int(hi)}), {n} run(s)")
                if n > 1:
                    svg.line(cx, y_of(lo), cx, y_of(hi), width=1.2)
                    svg.line(cx - 4, y_of(lo), cx + 4, y_of(lo), width=1.2)
                    svg.line(cx - 4, y_of(hi), cx + 4, y_of(hi), width=1.2)
                svg.text(cx, y_of(hi) - 5, fmt_int(med), anchor="middle", size=10)
                # "haproxy_proxy" -> "haproxy" over "proxy": seven bars fit side by side.
                for li, word in enumerate(server.split("_", 1)):
                    svg.text(cx, y0 + panel_h + 14 + 12 * li, word, anchor="middle", size=10, fill="#333")

    # legend
    ly = top + len(rows) * panel_h + (len(rows) - 1) * gap_y + 56
    svg.text(left, ly - 4, "Servers (all: TLS 1.3, client certificate required, same CA; pinned to CPU 0):",
             weight="bold", size=11)
    col_w = (width - left - 30) / 2
    for i, (server, label, colour) in enumerate(servers):
        lx = left + (i % 2) * col_w
        yy = ly + 10 + (i // 2) * 22
        svg.rect(lx, yy, 14, 14, colour)
        svg.text(lx + 20, yy + 11, f"{server}: {label}", size=11)
    return svg.render()


# --------------------------------------------------------------------------------------------
# policy decision


def read_criterion(criterion: Path, group: str) -> dict:
    base = criterion / group
    if not base.is_dir():
        sys.exit(f"{base}: no such directory (run `cargo bench -p mtls-benches --bench policy_decision` first; "
                 "criterion writes to $CARGO_TARGET_DIR/criterion, by default target/criterion)")
    kinds: dict[str, list[dict]] = {}
    order = {k: i for i, k in enumerate(KIND_STYLE)}
    dirs = [p for p in base.iterdir() if p.is_dir() and p.name != "report"]
    for kind_dir in sorted(dirs, key=lambda p: (order.get(p.name, len(order)), p.name)):
        points = []
        for size_dir in kind_dir.iterdir():
            est = size_dir / "new" / "estimates.json"
            if not (size_dir.name.isdigit() and est.is_file()):
                continue
            data = json.loads(est.read_text(encoding="utf-8"))
            # criterion's headline figure: the slope of the linear fit when it sampled linearly,
            # otherwise the mean; with its 95 % confidence interval.
            which = "slope" if data.get("slope") else "mean"
            e = data[which]
            points.append({
                "size": int(size_dir.name),
                "ns": e["point_estimate"],
                "ci_low_ns": e["confidence_interval"]["lower_bound"],
                "ci_high_ns": e["confidence_interval"]["upper_bound"],
                "estimate": which,
            })
        if points:
            kinds[kind_dir.name] = sorted(points, key=lambda p: p["size"])
    if not kinds:
        sys.exit(f"{base}: no <kind>/<size>/new/estimates.json")
    return {
        "bench": f"cargo bench -p mtls-benches --bench {group}",
        "group": group,
        "source": str(criterion),
        "unit": "ns per Policy::decide (wall time)",
        "kinds": kinds,
    }


def plot_policy(data: dict, note: str, target_ns: float | None) -> str:
    return plot_curves(
        data, note, target_ns,
        title="Policy decision cost vs allow-list size",
        lines=[f"{data.get('bench', 'policy_decision')}: criterion's estimate (slope, or mean), "
               "bars: its 95 % confidence interval;",
               "one Policy::decide for a peer that matches the last entry (every structure is consulted)"],
        xlabel="allow-list entries (log scale)", ylabel="ns per decision", unit=" ns",
        fmt=lambda v: f"{v:,.0f}")


def plot_curves(data: dict, note: str, target: float | None, title: str, lines: list[str],
                xlabel: str, ylabel: str, unit: str, fmt) -> str:
    """Curves of a value against a size (log scale), one per kind: data["kinds"][kind] is a
    list of {"size", "ns", "ci_low_ns", "ci_high_ns"} (the value and its interval)."""
    kinds = data["kinds"]
    sizes = sorted({max(p["size"], 1) for pts in kinds.values() for p in pts})
    hi = max(p["ci_high_ns"] for pts in kinds.values() for p in pts)
    ymax, ticks = nice_axis(max(hi * 1.1, (target or 0) * 1.08))
    left, top, pw, ph = 90.0, 92.0, 560.0, 330.0
    width, height = left + pw + 340, top + ph + 80
    svg = Svg(width, height)
    svg.text(left, 26, title, size=16, weight="bold")
    for i, line in enumerate(lines[:2]):
        svg.text(left, 44 + 14 * i, line, fill="#444", size=11)
    if note:
        svg.text(left, 72, note, fill="#444", size=11)

    lo_exp = math.floor(math.log10(max(min(sizes), 1)))
    hi_exp = math.ceil(math.log10(max(sizes)))
    if hi_exp == lo_exp:
        hi_exp += 1
    pad = 0.25

    def x_of(n: float) -> float:
        return left + pw * (math.log10(max(n, 1)) - lo_exp + pad) / (hi_exp - lo_exp + 2 * pad)

    def y_of(v: float) -> float:
        return top + ph - ph * v / ymax

    for v in ticks:
        y = y_of(v)
        svg.line(left, y, left + pw, y, stroke="#e2e2e2")
        svg.line(left - 4, y, left, y)
        svg.text(left - 7, y + 4, fmt(v), anchor="end", size=11)
    for e in range(lo_exp, hi_exp + 1):
        x = x_of(10**e)
        svg.line(x, top, x, top + ph, stroke="#f0f0f0")
        svg.line(x, top + ph, x, top + ph + 4)
        svg.text(x, top + ph + 18, f"{10**e:,}", anchor="middle", size=11)
        if e < hi_exp:
            for m in range(2, 10):
                xm = x_of(m * 10**e)
                svg.line(xm, top + ph, xm, top + ph + 2.5, stroke="#888")
    svg.line(left, top, left, top + ph)
    svg.line(left, top + ph, left + pw, top + ph)
    svg.text(left + pw / 2, top + ph + 40, xlabel, anchor="middle")
    svg.text(left - 58, top + ph / 2, ylabel, anchor="middle", rotate=-90)
    if target:
        y = y_of(target)
        svg.line(left, y, left + pw, y, stroke="#e53e3e", width=1.2, dash="6 4")
        svg.text(left + 6, y - 6, f"target: ≤ {fmt(target)}{unit}", size=11, fill="#e53e3e")

    for i, (kind, pts) in enumerate(kinds.items()):
        label, colour, shape = KIND_STYLE.get(kind, (kind, FALLBACK_COLOURS[i % len(FALLBACK_COLOURS)], "circle"))
        path = " ".join(f"{'M' if j == 0 else 'L'}{x_of(p['size']):.1f},{y_of(p['ns']):.1f}" for j, p in enumerate(pts))
        svg.add(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in pts:
            x = x_of(p["size"])
            svg.line(x, y_of(p["ci_low_ns"]), x, y_of(p["ci_high_ns"]), stroke=colour, width=1.2)
            svg.marker(shape, x, y_of(p["ns"]), colour,
                       title=f"{kind}, {p['size']:,}: {fmt(p['ns'])}{unit} "
                             f"({fmt(p['ci_low_ns'])}–{fmt(p['ci_high_ns'])})")
        # legend entry with the values
        ly = top + 10 + i * 64
        lx = left + pw + 24
        svg.line(lx, ly, lx + 22, ly, stroke=colour, width=2)
        svg.marker(shape, lx + 11, ly, colour)
        svg.text(lx + 30, ly + 4, kind, weight="bold", size=11)
        svg.text(lx + 30, ly + 19, label, size=10, fill="#444")
        svg.text(lx + 30, ly + 34, " · ".join(f"{p['size']:,}: {fmt(p['ns'])}" for p in pts) + unit,
                 size=10, fill="#444")
    return svg.render()


# --------------------------------------------------------------------------------------------
# main


def cmd_loopback(args) -> None:
    runs, note = load_runs(args.runs)
    if not runs:
        sys.exit("no `run` lines in " + ", ".join(map(str, args.runs)))
    write(args.out, plot_loopback(runs, args.note or note))


def cmd_policy(args) -> None:
    if args.criterion:
        data = read_criterion(args.criterion, args.group)
        if args.note:
            data["note"] = args.note
        write(args.data, json.dumps(data, indent=1) + "\n")
    else:
        if not args.data.is_file():
            sys.exit(f"{args.data}: missing; pass --criterion DIR to read a fresh criterion run")
        data = json.loads(args.data.read_text(encoding="utf-8"))
    target = None if args.target_ns <= 0 else args.target_ns
    write(args.out, plot_policy(data, args.note or data.get("note", ""), target))


def cmd_scale(args) -> None:
    kinds: dict = {}
    for line in args.data.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        point = json.loads(line)
        r = point["ratio"]
        kinds.setdefault(point["dimension"], []).append(
            {"size": point["size"], "ns": r, "ci_low_ns": r, "ci_high_ns": r})
    data = {"kinds": kinds}
    write(args.out, plot_curves(
        data, args.note, 1.1,
        title="Handshake cost vs the size of the configuration",
        lines=["instructions of the server per full mTLS handshake and decision (callgrind, benches/scale.sh),",
               "as a ratio to the smallest size of each dimension (0 CRL entries drawn at 1)"],
        xlabel="size (log scale)", ylabel="ratio to the smallest size", unit="×",
        fmt=lambda v: f"{v:.2f}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Draw the SVG plots of BENCHMARKS.md (standard library only).",
        epilog="Without a subcommand: `all` (both plots from the committed result files).",
    )
    sub = parser.add_subparsers(dest="command")

    lp = sub.add_parser("loopback", help="handshakes/s and keep-alive req/s per server (compare.sh)")
    lp.add_argument("--runs", type=Path, nargs="+", default=[RESULTS / "loopback-runs.jsonl"],
                    help="JSON lines of `loadgen run` (default: %(default)s)")
    lp.add_argument("--out", type=Path, default=HERE / "loopback.svg", help="default: %(default)s")
    lp.add_argument("--note", default="",
                    help='a caption line (machine, commit, ...); default: the note of a {"kind": "meta"} line')
    lp.set_defaults(func=cmd_loopback)

    pp = sub.add_parser("policy", help="policy decision cost vs allow-list size (criterion)")
    pp.add_argument("--criterion", type=Path,
                    help="criterion's output directory (e.g. target/criterion); read it and save --data")
    pp.add_argument("--group", default="policy_decision", help="criterion group (default: %(default)s)")
    pp.add_argument("--data", type=Path, default=RESULTS / "policy-decision.json",
                    help="the estimates as JSON: written with --criterion, read without (default: %(default)s)")
    pp.add_argument("--out", type=Path, default=HERE / "policy-decision.svg", help="default: %(default)s")
    pp.add_argument("--target-ns", type=float, default=1000.0,
                    help="draw a target line at this many ns; 0: none (default: %(default)s)")
    pp.add_argument("--note", default="", help="a caption line (machine, commit, ...)")
    pp.set_defaults(func=cmd_policy)

    sp = sub.add_parser("scale", help="handshake instructions vs configuration size (benches/scale.sh)")
    sp.add_argument("--data", type=Path, default=RESULTS / "scale.jsonl",
                    help="scale.jsonl of a benches/scale.sh run (default: %(default)s)")
    sp.add_argument("--out", type=Path, default=HERE / "scale.svg", help="default: %(default)s")
    sp.add_argument("--note", default="", help="a caption line (machine, commit, ...)")
    sp.set_defaults(func=cmd_scale)

    sub.add_parser("all", help="both plots from the committed result files").set_defaults(func=None)

    args = parser.parse_args(argv)
    if args.command in (None, "all"):
        cmd_loopback(parser.parse_args(["loopback"]))
        cmd_policy(parser.parse_args(["policy"]))
    else:
        args.func(args)


if __name__ == "__main__":
    main()
