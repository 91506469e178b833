//! The human form of a plan: a summary, then one aligned table per question a planner asks.

use crate::format::{co2, count, grouped, kwh, labelled, litres, pct, plural, usd};
use crate::plan_where;
use crate::table::{Align, Table};
use skyfleet_model::Fleet;
use skyfleet_placement::{Plan, Totals, Verdict};

use Align::{Left as L, Right as R};

/// The whole report. `every_assignment` swaps the who-runs-where summary for every assignment.
pub fn render(fleet: &Fleet, file: &str, plan: &Plan, every_assignment: bool) -> String {
    let mut out = summary(fleet, file, plan);
    out += &by_provider(fleet, plan);
    out += &by_month(plan);
    out += &contracts(plan);
    out += &unmet(plan);
    if every_assignment {
        out += &plan_where::assignments(plan);
    } else {
        out += &plan_where::who_runs_where(fleet, plan);
    }
    out
}

/// Width the report is laid out for.
const WIDTH: usize = 118;
/// Where the summary's text starts, after its label.
const INDENT: usize = 13;

fn line(label: &str, text: &str) -> String {
    labelled(label, INDENT, text, WIDTH)
}

fn summary(fleet: &Fleet, file: &str, plan: &Plan) -> String {
    let (o, b, t) = (&plan.objective, &plan.bound, &plan.totals);
    let h = &plan.horizon;
    let mut s = format!(
        "{} ({file}): {}, {} to {}; {}, {}\n",
        fleet.name,
        plural(h.len(), "month"),
        h.month(0),
        h.month(h.len().saturating_sub(1)),
        plural(fleet.workloads.len(), "workload"),
        plural(fleet.offers.len(), "offer")
    );
    let penalties =
        o.unmet_penalty_usd.get() + o.n_plus_one_penalty_usd.get() + o.residue_penalty_usd.get();
    s += &line(
        "objective",
        &format!(
            "{} = committed {} + marginal {} + carbon {} + water {} + penalties {}",
            usd(o.total_usd.get()),
            usd(o.committed_usd.get()),
            usd(o.marginal_usd.get()),
            usd(o.carbon_usd.get()),
            usd(o.water_usd.get()),
            usd(penalties)
        ),
    );
    s += &line(
        "penalties",
        &format!(
            "unmet work and demand {}, inference short of N+1 {}, solver residue {}",
            usd(o.unmet_penalty_usd.get()),
            usd(o.n_plus_one_penalty_usd.get()),
            usd(o.residue_penalty_usd.get())
        ),
    );
    s += &line(
        "lower bound",
        &format!(
            "{}, gap {} (the plan is at most this much dearer than the best)",
            usd(b.lower_bound_usd.get()),
            gap_pct(b.gap),
        ),
    );
    s += &line("bound by", &b.method);
    let (r, p) = (&b.relaxation, &b.plan_lp);
    s += &line(
        "solver",
        &format!(
            "{}: {} + {} iterations, solved in {:.2} s",
            b.solver,
            r.iterations,
            p.iterations,
            r.seconds + p.seconds
        ),
    );
    let lp = |x: &skyfleet_placement::LpStats| {
        format!(
            "{} vars x {} rows, {} nonzeros",
            grouped(x.variables as f64, 0),
            grouped(x.constraints as f64, 0),
            grouped(x.nonzeros as f64, 0),
        )
    };
    s += &line("LP sizes", &format!("relaxation {}; plan {}", lp(r), lp(p)));
    s += &line("gangs", &b.gang_search);
    s += &line(
        "footprint",
        &format!(
            "{} GPU-hours, {}, {} of water, {} CO2e",
            count(t.gpu_hours.get()),
            kwh(t.kwh.get()),
            litres(t.litres.get()),
            co2(t.kg_co2e.get())
        ),
    );
    // The date of the prices used, and a warning when they are stale (issue 13).
    let dates = fleet.offers.iter().filter_map(|o| o.as_of.as_ref());
    if let Some(text) = crate::catalog_source::price_dates(dates, crate::catalog_source::today()) {
        s += &line("prices", &text);
    }
    s
}

/// The gap as a percentage: two decimals from 1%, two significant digits below, so that a gap
/// of a few parts per million still shows but solver noise in it does not.
pub fn gap_pct(gap: f64) -> String {
    let p = gap * 100.0;
    if p >= 1.0 || p <= 0.0 {
        return format!("{}%", grouped(p.max(0.0), 2));
    }
    let decimals = (1 - p.log10().floor() as i32).max(2) as usize;
    format!("{p:.decimals$}%")
}

const TOTALS_COLUMNS: [(&str, Align); 7] = [
    ("committed", R),
    ("marginal", R),
    ("cost", R),
    ("GPU-hours", R),
    ("energy", R),
    ("water", R),
    ("carbon CO2e", R),
];

fn totals_cells(t: &Totals) -> Vec<String> {
    vec![
        usd(t.committed_usd.get()),
        usd(t.marginal_usd.get()),
        usd(t.cost_usd.get()),
        count(t.gpu_hours.get()),
        kwh(t.kwh.get()),
        litres(t.litres.get()),
        co2(t.kg_co2e.get()),
    ]
}

fn columns(first: &[(&'static str, Align)], last: &[(&'static str, Align)]) -> Table {
    let all: Vec<_> = first
        .iter()
        .chain(TOTALS_COLUMNS.iter())
        .chain(last)
        .copied()
        .collect();
    Table::new(&all)
}

fn by_provider(fleet: &Fleet, plan: &Plan) -> String {
    let mut t = columns(&[("provider", L)], &[("share", R)]);
    for (p, tot) in &plan.by_provider {
        let mut row = vec![p.to_string()];
        row.extend(totals_cells(tot));
        row.push(pct(plan.shares.get(p).copied().unwrap_or(0.0)));
        t.row(row);
    }
    let mut row = vec!["total".to_string()];
    row.extend(totals_cells(&plan.totals));
    row.push(pct(1.0));
    t.row(row);
    let cap = fleet
        .policy
        .max_provider_share
        .map_or("no share cap".to_string(), |c| {
            format!("share cap {}", pct(c))
        });
    format!(
        "\nby provider (HHI {}; {cap})\n{}",
        grouped(plan.hhi, 0),
        t.render(2)
    )
}

fn by_month(plan: &Plan) -> String {
    let mut t = columns(
        &[("month", L)],
        &[("N+1", L), ("worst loss", L), ("margin", R)],
    );
    for (i, tot) in plan.by_month.iter().enumerate() {
        let mut row = vec![plan.months[i].to_string()];
        row.extend(totals_cells(tot));
        match plan.n_plus_one.get(i) {
            Some(n) if n.required => {
                row.push(if n.holds { "holds" } else { "FAILS" }.to_string());
                row.push(
                    n.worst_provider
                        .as_ref()
                        .map_or("-".into(), |p| p.to_string()),
                );
                row.push(grouped(n.worst_margin_ref_gpus, 0));
            }
            _ => row.extend(["not required".into(), "-".into(), "-".into()]),
        }
        t.row(row);
    }
    format!(
        "\nby month (N+1: inference demand met with any one provider down; margin in reference GPUs)\n{}",
        t.render(2)
    )
}

fn contracts(plan: &Plan) -> String {
    if plan.contracts.is_empty() {
        return "\ncontracts: none\n".to_string();
    }
    let mut t = Table::new(&[
        ("contract", L),
        ("provider", L),
        ("committed GPU-h", R),
        ("used GPU-h", R),
        ("utilisation", R),
        ("stranded", R),
    ]);
    for c in &plan.contracts {
        t.row(vec![
            c.offer.to_string(),
            c.provider.to_string(),
            count(c.committed_gpu_hours.get()),
            count(c.used_gpu_hours.get()),
            pct(c.utilisation),
            usd(c.stranded_usd.get()),
        ]);
    }
    format!("\ncontracts (take-or-pay)\n{}", t.render(2))
}

fn unmet(plan: &Plan) -> String {
    let r = &plan.residue;
    let note = if r.workloads == 0 {
        String::new()
    } else {
        format!(
            "  (residue: {} reference GPU-hours of {} workload{} placed in slivers under 0.5 GPU-hours a month, \
             left out of the plan and charged as unmet: {})\n",
            count(r.ref_gpu_hours.get()),
            r.workloads,
            if r.workloads == 1 { "" } else { "s" },
            usd(r.penalty_usd.get())
        )
    };
    if plan.unmet.is_empty() {
        return format!("\nunmet demand: none\n{note}");
    }
    let mut t = Table::new(&[
        ("workload", L),
        ("ref GPU-h", R),
        ("months", R),
        ("penalty", R),
        ("verdict", L),
        ("reason", L),
    ]);
    for u in &plan.unmet {
        let (verdict, reason) = match &u.verdict {
            Verdict::NeverFits(r) => ("never fits", r),
            Verdict::NotNow(r) => ("not now", r),
        };
        t.row(vec![
            u.workload.to_string(),
            count(u.ref_gpu_hours.get()),
            if u.months.is_empty() {
                "-".into()
            } else {
                u.months.len().to_string()
            },
            usd(u.penalty_usd.get()),
            verdict.into(),
            reason.clone(),
        ]);
    }
    format!("\nunmet demand\n{}{note}", t.render(2))
}

#[cfg(test)]
mod tests {
    use super::gap_pct;

    #[test]
    fn gap_keeps_two_significant_digits_when_small() {
        assert_eq!(gap_pct(0.2428), "24.28%");
        assert_eq!(gap_pct(4.451e-5), "0.0045%");
        assert_eq!(gap_pct(0.0123), "1.23%");
        assert_eq!(gap_pct(0.00123), "0.12%");
        assert_eq!(gap_pct(0.0), "0.00%");
        assert_eq!(gap_pct(-1e-12), "0.00%");
    }
}
