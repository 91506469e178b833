//! Who runs where: the plan's assignments, summarised per workload and place, or listed.

use crate::format::{co2, count, grouped, kwh, litres, month_range, usd};
use crate::table::{Align, Table};
use skyfleet_model::{Fleet, OfferKind};
use skyfleet_placement::Plan;
use std::collections::BTreeMap;
use std::fmt::Write;

use Align::{Left as L, Right as R};

/// Placements averaging fewer GPUs than this are interior-point residue, not decisions; the
/// summary leaves them out (and says how many), `--assignments` still lists them.
pub const MIN_AVG_GPUS: f64 = 0.5;

/// Where each workload ran: one row per (site, accelerator, kind) it used.
#[derive(Default)]
struct Place {
    first: String,
    last: String,
    months: usize,
    gpus: f64,
    gpu_hours: f64,
    ref_gpu_hours: f64,
}

pub fn who_runs_where(fleet: &Fleet, plan: &Plan) -> String {
    type Key<'a> = (&'a str, &'a str, OfferKind);
    let mut places: BTreeMap<&str, BTreeMap<Key, Place>> = BTreeMap::new();
    for a in &plan.assignments {
        let key = (a.site.as_str(), a.accelerator.as_str(), a.kind);
        let p = places
            .entry(a.workload.as_str())
            .or_default()
            .entry(key)
            .or_default();
        let m = a.month.to_string();
        if p.months == 0 || m < p.first {
            p.first = m.clone();
        }
        if m > p.last {
            p.last = m;
        }
        p.months += 1;
        p.gpus += a.gpus;
        p.gpu_hours += a.gpu_hours.get();
        p.ref_gpu_hours += a.ref_gpu_hours.get();
    }
    let mut t = Table::new(&[
        ("workload", L),
        ("site", L),
        ("accelerator", L),
        ("kind", L),
        ("months", L),
        ("n", R),
        ("avg GPUs", R),
        ("GPU-hours", R),
        ("ref GPU-h", R),
    ]);
    let mut hidden = 0;
    for w in &fleet.workloads {
        let mut name = w.id.to_string();
        let Some(used) = places.get(w.id.as_str()) else {
            continue;
        };
        for ((site, accel, kind), p) in used {
            let avg = p.gpus / p.months as f64;
            if avg < MIN_AVG_GPUS {
                hidden += 1;
                continue;
            }
            t.row(vec![
                std::mem::take(&mut name),
                site.to_string(),
                accel.to_string(),
                kind.as_str().to_string(),
                month_range(&p.first, &p.last),
                p.months.to_string(),
                grouped(avg, 0),
                count(p.gpu_hours),
                count(p.ref_gpu_hours),
            ]);
        }
    }
    let mut s = format!(
        "\nwho runs where (avg GPUs over the months used; ref GPU-h: work done in H100 GPU-hours)\n{}",
        t.render(2)
    );
    if hidden > 0 {
        let _ = writeln!(
            s,
            "  ({hidden} placements averaging under {MIN_AVG_GPUS} GPU are solver residue and not shown; \
             --assignments lists every row)"
        );
    }
    s
}

pub fn assignments(plan: &Plan) -> String {
    let mut t = Table::new(&[
        ("workload", L),
        ("offer", L),
        ("month", L),
        ("GPUs", R),
        ("GPU-hours", R),
        ("ref GPU-h", R),
        ("marginal", R),
        ("energy", R),
        ("water", R),
        ("carbon CO2e", R),
    ]);
    for a in &plan.assignments {
        t.row(vec![
            a.workload.to_string(),
            a.offer.to_string(),
            a.month.to_string(),
            count(a.gpus),
            count(a.gpu_hours.get()),
            count(a.ref_gpu_hours.get()),
            usd(a.marginal_usd.get()),
            kwh(a.kwh.get()),
            litres(a.litres.get()),
            co2(a.kg_co2e.get()),
        ]);
    }
    format!(
        "\nassignments ({} rows)\n{}",
        grouped(plan.assignments.len() as f64, 0),
        t.render(2)
    )
}
