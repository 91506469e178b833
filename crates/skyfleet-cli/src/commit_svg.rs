//! Fan charts for `skyfleet commit --out`: demand's spread over the horizon against one
//! portfolio's capacity. Plain SVG, no scripts, readable in any browser.

use skyfleet_commit::CommitReport;
use std::fmt::Write;

const W: f64 = 900.0;
const H: f64 = 420.0;
const L: f64 = 80.0;
const R: f64 = 20.0;
const T: f64 = 40.0;
const B: f64 = 50.0;

/// The fan chart of row `k`: P5–P95 and P25–P75 demand bands, the median, the portfolio's
/// mean committed capacity, and committed plus mean recourse (all in reference GPU-hours per
/// month, shown as average reference GPUs).
pub fn fan(r: &CommitReport, k: usize) -> String {
    let f = &r.fan;
    let n = f.months.len().max(1);
    // Per month, GPU-hours to average GPUs (730 hours a month on average).
    let g = |v: f64| v / 730.0;
    let served: Vec<f64> = (0..n).map(|t| f.committed[k][t] + f.market[k][t]).collect();
    let ymax = f
        .demand_p95
        .iter()
        .chain(&f.committed[k])
        .chain(&served)
        .fold(0.0f64, |a, b| a.max(g(*b)))
        .max(1.0)
        * 1.05;
    let x = |t: usize| L + (W - L - R) * t as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| H - B - (H - T - B) * g(v) / ymax;
    let band = |lo: &[f64], hi: &[f64]| {
        let mut pts: Vec<String> = (0..n)
            .map(|t| format!("{:.1},{:.1}", x(t), y(hi[t])))
            .collect();
        pts.extend((0..n).rev().map(|t| format!("{:.1},{:.1}", x(t), y(lo[t]))));
        pts.join(" ")
    };
    let line = |v: &[f64]| {
        (0..n)
            .map(|t| format!("{:.1},{:.1}", x(t), y(v[t])))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<title>{title}: demand against capacity</title>
<rect width="{W}" height="{H}" fill="white"/>
<text x="{L}" y="22" font-size="15">{title}: demand fan (P5–P95, P25–P75, median) against capacity, average reference GPUs</text>
<polygon points="{b1}" fill="#9ecae1" fill-opacity="0.5"/>
<polygon points="{b2}" fill="#4292c6" fill-opacity="0.5"/>
<polyline points="{med}" fill="none" stroke="#08519c" stroke-width="2"/>
<polyline points="{cap}" fill="none" stroke="#d94801" stroke-width="2.5"/>
<polyline points="{srv}" fill="none" stroke="#41ab5d" stroke-width="2" stroke-dasharray="6 4"/>
"##,
        title = xml(&r.rows[k].portfolio),
        b1 = band(&f.demand_p5, &f.demand_p95),
        b2 = band(&f.demand_p25, &f.demand_p75),
        med = line(&f.demand_p50),
        cap = line(&f.committed[k]),
        srv = line(&served),
    );
    // Axes and ticks.
    let _ = writeln!(
        s,
        r##"<line x1="{L}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="black"/><line x1="{L}" y1="{T}" x2="{L}" y2="{yb}" stroke="black"/>"##,
        yb = H - B,
        xr = W - R
    );
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let yy = H - B - (H - T - B) * i as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            L - 6.0,
            yy + 4.0,
            crate::format::count(v)
        );
    }
    for t in (0..n).step_by(6.max(n / 8)) {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##,
            x(t),
            H - B + 18.0,
            xml(&f.months[t])
        );
    }
    let _ = writeln!(
        s,
        r##"<g transform="translate({L},{ly})"><rect width="14" height="8" fill="#4292c6"/><text x="20" y="8">demand P25–P75 (light: P5–P95), line: median</text>
<line x1="330" y1="4" x2="350" y2="4" stroke="#d94801" stroke-width="2.5"/><text x="356" y="8">committed capacity (mean)</text>
<line x1="540" y1="4" x2="560" y2="4" stroke="#41ab5d" stroke-width="2" stroke-dasharray="6 4"/><text x="566" y="8">committed + recourse bought (mean)</text></g>
</svg>"##,
        ly = H - 18.0
    );
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
