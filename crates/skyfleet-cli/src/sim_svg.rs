//! Line charts of the simulated series, one line per policy, as small hand-written SVG: what
//! `simulate --out DIR` writes to `DIR/utilisation.svg`, `queue.svg`, `cost.svg` and `slo.svg`.
//!
//! Each chart has a title, both axes with round-number ticks and labels, light grid lines and a
//! legend. Long series are thinned to at most [`MAX_POINTS`] points per line, keeping each
//! bucket's lowest and highest value so that spikes survive. Output depends only on the report,
//! so it is byte-identical from run to run.

use skyfleet_sim::report::{Sample, SimReport};
use std::fmt::Write;

/// Canvas and plot area, in SVG user units (pixels).
const W: f64 = 760.0;
const H: f64 = 400.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = W - 180.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = H - 52.0;

/// Points per line, at most.
pub const MAX_POINTS: usize = 1000;

/// Line colours: the Okabe-Ito palette, readable by colour-blind people, yellow left out.
const COLOURS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// What the y values are, which decides the axis range and how ticks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YKind {
    /// A fraction in 0..=1, shown as 0-100%.
    Fraction,
    /// A count from 0 up.
    Count,
    /// US dollars from 0 up.
    Usd,
}

/// One chart: a file name in the output folder, its title, y-axis label, kind, and the value it
/// plots from each sample.
pub struct ChartSpec {
    pub file: &'static str,
    pub title: &'static str,
    pub y_label: &'static str,
    pub kind: YKind,
    pub value: fn(&Sample) -> f64,
}

/// The four charts `--out` writes.
pub const CHARTS: [ChartSpec; 4] = [
    ChartSpec {
        file: "utilisation.svg",
        title: "GPU utilisation (busy / up)",
        y_label: "utilisation",
        kind: YKind::Fraction,
        value: |s| s.utilisation,
    },
    ChartSpec {
        file: "queue.svg",
        title: "Jobs waiting for capacity",
        y_label: "jobs queued",
        kind: YKind::Count,
        value: |s| s.queue_len as f64,
    },
    ChartSpec {
        file: "cost.svg",
        title: "Cost to date (sunk + marginal)",
        y_label: "USD",
        kind: YKind::Usd,
        value: |s| s.cost_usd,
    },
    ChartSpec {
        file: "slo.svg",
        title: "Inference SLO attainment (demand served)",
        y_label: "attainment",
        kind: YKind::Fraction,
        value: |s| s.slo_attainment,
    },
];

/// Every chart of `report`, as `(file name, SVG text)`.
pub fn charts(report: &SimReport) -> Vec<(&'static str, String)> {
    CHARTS
        .iter()
        .map(|spec| (spec.file, chart(report, spec)))
        .collect()
}

/// One chart of `report`: a line per policy, time on the x axis.
pub fn chart(report: &SimReport, spec: &ChartSpec) -> String {
    let lines: Vec<(&str, Vec<(f64, f64)>)> = report
        .policies
        .iter()
        .map(|p| {
            let pts = p
                .series
                .iter()
                .map(|s| (s.t as f64, (spec.value)(s)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            (p.policy.as_str(), pts)
        })
        .collect();
    let last_t = lines
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
        .fold(report.span_s as f64, f64::max);
    render(spec, last_t, &lines)
}

/// The SVG text: `lines` are `(name, [(t seconds, y)])`, `span_s` the end of the x axis.
fn render(spec: &ChartSpec, span_s: f64, lines: &[(&str, Vec<(f64, f64)>)]) -> String {
    // Days on the x axis, or hours for a span of three days or less.
    let (x_unit, x_div) = if span_s > 3.0 * 86400.0 {
        ("days", 86400.0)
    } else {
        ("hours", 3600.0)
    };
    let x_axis = Axis::new(span_s / x_div);
    let y_max = lines
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    // A fraction's axis stops at 100%, and zooms in on low values (a big fleet running a small
    // trace is busy 0.5% of the time: that is worth seeing).
    let y_axis = match Axis::new(y_max) {
        a if spec.kind == YKind::Fraction && (a.max >= 1.0 || y_max <= 0.0) => Axis {
            max: 1.0,
            step: 0.2,
        },
        a => a,
    };
    let px = |x: f64| LEFT + (x / x_div / x_axis.max).clamp(0.0, 1.0) * (RIGHT - LEFT);
    let py = |y: f64| BOTTOM - (y / y_axis.max).clamp(0.0, 1.0) * (BOTTOM - TOP);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(spec.title));
    let _ = writeln!(s, r##"<rect width="{W}" height="{H}" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="26" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        (LEFT + RIGHT) / 2.0,
        escape(spec.title)
    );

    // Grid lines and ticks.
    s.push_str(r##"<g stroke="#e0e0e0" stroke-width="1">"##);
    s.push('\n');
    for v in y_axis.ticks() {
        let y = r1(py(v));
        let _ = writeln!(s, r#"<line x1="{LEFT}" y1="{y}" x2="{RIGHT}" y2="{y}"/>"#);
    }
    for v in x_axis.ticks() {
        let x = r1(px(v * x_div));
        let _ = writeln!(s, r#"<line x1="{x}" y1="{TOP}" x2="{x}" y2="{BOTTOM}"/>"#);
    }
    s.push_str("</g>\n");
    s.push_str(r#"<g text-anchor="end">"#);
    s.push('\n');
    for v in y_axis.ticks() {
        let y = r1(py(v));
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            LEFT - 6.0,
            r1(y + 4.0),
            escape(&tick_label(v, &y_axis, spec.kind))
        );
    }
    s.push_str("</g>\n");
    s.push_str(r#"<g text-anchor="middle">"#);
    s.push('\n');
    for v in x_axis.ticks() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            r1(px(v * x_div)),
            BOTTOM + 18.0,
            tick_label(v, &x_axis, YKind::Count)
        );
    }
    s.push_str("</g>\n");

    // Axes and their labels.
    let _ = writeln!(
        s,
        r##"<path d="M{LEFT} {TOP}V{BOTTOM}H{RIGHT}" fill="none" stroke="#000000" stroke-width="1"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">time ({x_unit})</text>"#,
        (LEFT + RIGHT) / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">{1}</text>"#,
        (TOP + BOTTOM) / 2.0,
        escape(spec.y_label)
    );

    // One line per policy, then the legend.
    for (i, (_, pts)) in lines.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (j, (t, y)) in thin(pts, MAX_POINTS).into_iter().enumerate() {
            if j > 0 {
                d.push(' ');
            }
            let _ = write!(d, "{},{}", r1(px(t)), r1(py(y)));
        }
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" stroke-linejoin="round" points="{d}"/>"#,
            COLOURS[i % COLOURS.len()]
        );
    }
    for (i, (name, _)) in lines.iter().enumerate() {
        let y = TOP + 8.0 + 20.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{y}" x2="{1}" y2="{y}" stroke="{2}" stroke-width="3"/><text x="{3}" y="{4}">{5}</text>"#,
            RIGHT + 16.0,
            RIGHT + 40.0,
            COLOURS[i % COLOURS.len()],
            RIGHT + 46.0,
            y + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// An axis from 0 to `max`, with a tick every `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    max: f64,
    step: f64,
}

impl Axis {
    /// Round steps (1, 2, 2.5 or 5 times a power of ten), three to eight of them, that cover
    /// `0..=hi` with the least room to spare; on a tie, 1, 2 and 5 before 2.5, then fewer ticks.
    fn new(hi: f64) -> Self {
        let hi = if hi.is_finite() && hi > 0.0 { hi } else { 1.0 };
        let mag = 10f64.powf((hi / 5.0).log10().floor());
        let mut best: Option<(Axis, bool, usize)> = None;
        for m in [0.1, 1.0, 10.0] {
            for mantissa in [1.0, 2.0, 2.5, 5.0] {
                let step = mantissa * mag * m;
                let n = (hi / step - 1e-9).ceil().max(1.0) as usize;
                if !(3..=8).contains(&n) {
                    continue;
                }
                let axis = Axis {
                    max: n as f64 * step,
                    step,
                };
                let key = (axis, mantissa == 2.5, n);
                let better = match &best {
                    None => true,
                    Some((b, b25, bn)) => (axis.max, key.1, n) < (b.max, *b25, *bn),
                };
                if better {
                    best = Some(key);
                }
            }
        }
        best.map_or(
            Axis {
                max: hi,
                step: hi / 5.0,
            },
            |(a, _, _)| a,
        )
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let n = (self.max / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step)
    }
}

/// A tick's text: percent for fractions, a metric prefix for big numbers, `$` for money, with
/// just the decimals the step needs (`0`, `2.5k`, `$1.5M`, `40%`).
fn tick_label(v: f64, axis: &Axis, kind: YKind) -> String {
    if kind == YKind::Fraction {
        return format!("{:.*}%", decimals(axis.step * 100.0), v * 100.0);
    }
    if v == 0.0 {
        return if kind == YKind::Usd { "$0" } else { "0" }.to_string();
    }
    // The prefix the axis's largest value takes, and the same for every tick.
    let mut p = 0;
    while p < 6 && axis.max / 1000f64.powi(p + 1) >= 1.0 {
        p += 1;
    }
    let scale = 1000f64.powi(p);
    let decimals = decimals(axis.step / scale);
    let prefix = ["", "k", "M", "G", "T", "P", "E"][p as usize];
    let prefix = if kind == YKind::Usd && prefix == "G" {
        "B"
    } else {
        prefix
    };
    let dollar = if kind == YKind::Usd { "$" } else { "" };
    format!("{dollar}{:.*}{prefix}", decimals, v / scale)
}

/// The fewest decimals (up to 6) that write every multiple of `step` exactly: 2 for 0.25.
fn decimals(step: f64) -> usize {
    (0..=6)
        .find(|&d| {
            let x = step * 10f64.powi(d as i32);
            (x - x.round()).abs() < 1e-6 * x.max(1.0)
        })
        .unwrap_or(6)
}

/// At most `max` points, in order: the first and last, and for each of `max / 2 - 1` buckets of
/// the rest, its lowest and highest point.
fn thin(pts: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max {
        return pts.to_vec();
    }
    let inner = &pts[1..pts.len() - 1];
    let buckets = (max / 2).saturating_sub(1).max(1);
    let mut out = Vec::with_capacity(max);
    out.push(pts[0]);
    for b in 0..buckets {
        let chunk = &inner[b * inner.len() / buckets..(b + 1) * inner.len() / buckets];
        let lo = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let hi = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        if let (Some((i, &l)), Some((j, &h))) = (lo, hi) {
            match i.cmp(&j) {
                std::cmp::Ordering::Less => out.extend([l, h]),
                std::cmp::Ordering::Greater => out.extend([h, l]),
                std::cmp::Ordering::Equal => out.push(l),
            }
        }
    }
    out.push(pts[pts.len() - 1]);
    out
}

/// One decimal, no negative zero: coordinates do not need more.
fn r1(x: f64) -> f64 {
    let r = (x * 10.0).round() / 10.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// Text made safe for XML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_wellformed::well_formed;
    use skyfleet_sim::report::PolicyReport;

    fn sample(t: u64, u: f64, q: usize, cost: f64, slo: f64) -> Sample {
        Sample {
            t,
            utilisation: u,
            queue_len: q,
            running_jobs: q,
            cost_usd: cost,
            slo_attainment: slo,
        }
    }

    fn report() -> SimReport {
        let series = |k: f64| {
            (0..=48)
                .map(|h| {
                    let x = h as f64;
                    sample(
                        h * 3600,
                        (0.5 + 0.4 * (x / 7.0 * k).sin()).clamp(0.0, 1.0),
                        (x * k) as usize % 17,
                        1.5e6 * x * k,
                        1.0 - 0.01 * k * (h % 5) as f64,
                    )
                })
                .collect()
        };
        SimReport {
            seed: 7,
            span_s: 48 * 3600,
            jobs: 10,
            policies: vec![
                PolicyReport {
                    policy: "skyfleet".into(),
                    series: series(1.0),
                    ..PolicyReport::default()
                },
                PolicyReport {
                    policy: "cheapest-first & <co>".into(),
                    series: series(1.7),
                    ..PolicyReport::default()
                },
            ],
            ..SimReport::default()
        }
    }

    #[test]
    fn four_well_formed_charts_with_a_line_and_a_legend_entry_per_policy() {
        let r = report();
        let all = charts(&r);
        let names: Vec<_> = all.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            names,
            ["utilisation.svg", "queue.svg", "cost.svg", "slo.svg"]
        );
        for (file, svg) in &all {
            well_formed(svg).unwrap_or_else(|e| panic!("{file}: {e}\n{svg}"));
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert_eq!(svg.matches("<polyline").count(), 2, "{file}");
            assert!(svg.contains(">skyfleet</text>"), "{file}");
            assert!(svg.contains(">cheapest-first &amp; &lt;co&gt;</text>"));
            assert!(svg.contains("time (hours)"), "{file}");
            assert!(svg.len() < 20_000, "{file} is {} bytes", svg.len());
        }
        let cost = &all[2].1;
        assert!(
            cost.contains(">$0</text>") && cost.contains("M</text>"),
            "{cost}"
        );
        let slo = &all[3].1;
        assert!(slo.contains(">100%</text>") && slo.contains(">0%</text>"));
    }

    #[test]
    fn the_same_report_gives_the_same_bytes() {
        assert_eq!(charts(&report()), charts(&report()));
    }

    #[test]
    fn an_empty_report_still_draws_axes() {
        for (file, svg) in charts(&SimReport::default()) {
            well_formed(&svg).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!svg.contains("<polyline"));
        }
    }

    #[test]
    fn long_series_are_thinned_but_keep_their_extremes() {
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64, if i == 54_321 { 99.0 } else { (i % 7) as f64 }))
            .collect();
        let t = thin(&pts, MAX_POINTS);
        assert!(t.len() <= MAX_POINTS, "{}", t.len());
        assert!(t.contains(&(54_321.0, 99.0)));
        assert_eq!(t.first(), pts.first());
        assert_eq!(t.last(), pts.last());
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn axes_have_round_steps() {
        let ax = |hi: f64| {
            let a = Axis::new(hi);
            (a.max, a.step)
        };
        assert_eq!(ax(48.0), (50.0, 10.0));
        assert_eq!(ax(7.3), (7.5, 2.5));
        assert_eq!(ax(0.0), (1.0, 0.2));
        assert_eq!(ax(100.0), (100.0, 20.0));
        assert_eq!(ax(110.0), (120.0, 20.0));
        assert_eq!(ax(153.6), (160.0, 20.0));
        assert_eq!(ax(0.9), (1.0, 0.2));
        assert_eq!(ax(3.6), (4.0, 1.0));
    }

    #[test]
    fn ticks_read_as_money_counts_and_percentages() {
        let a = Axis::new(2.4e9);
        assert_eq!(tick_label(1.5e9, &a, YKind::Usd), "$1.5B");
        assert_eq!(tick_label(2e9, &a, YKind::Count), "2.0G");
        assert_eq!(tick_label(40.0, &Axis::new(48.0), YKind::Count), "40");
        let quarters = Axis::new(7.3);
        assert_eq!(tick_label(5.0, &quarters, YKind::Count), "5.0");
        assert_eq!(tick_label(0.4, &Axis::new(0.9), YKind::Fraction), "40%");
        let low = Axis::new(0.0071);
        assert_eq!(tick_label(0.005, &low, YKind::Fraction), "0.50%");
    }
}
