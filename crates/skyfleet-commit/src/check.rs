//! The chosen portfolio checked with `skyfleet plan`'s core: the candidates signed at their
//! sizes become take-or-pay contracts of the fleet, and `skyfleet_placement::place` plans it.
//! Both sides see the same thing: the fleet file's demand, prices and availability as written,
//! deliveries on time, no outages, the horizon only, undiscounted. What differs is the model:
//! `plan` places gangs, accelerators and per-service N+1 exactly and applies the share cap
//! over the horizon; `commit` aggregates them (`model`). The table says how far apart they are.

use crate::model::Model;
use crate::recourse::{evaluate_scenario, Portfolio, Wants, Workspace};
use crate::scenario::Scenario;
use serde::Serialize;
use skyfleet_model::{Fleet, Offer, OfferId, OfferKind};
use std::collections::BTreeMap;

/// One side of the check.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Side {
    /// Take-or-pay payments (existing contracts and the new commitments).
    pub committed_usd: f64,
    /// On-demand and spot bought.
    pub market_usd: f64,
    /// Carbon and water at the policy's prices.
    pub footprint_usd: f64,
    /// The sum of the three: money the portfolio costs over the horizon.
    pub spend_usd: f64,
    /// Demand left unmet, reference GPU-hours.
    pub unmet_ref_gpu_hours: f64,
    /// Months in which N+1 does not hold (commit: backup short; plan: its N+1 verdict).
    pub n_plus_one_short_months: usize,
    /// Each provider's share of the GPU-hours used.
    pub shares: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanCheck {
    pub portfolio: String,
    pub commit: Side,
    pub plan: Side,
    /// `plan.spend_usd / commit.spend_usd - 1`.
    pub spend_difference: f64,
    /// The placement core's own gap to its lower bound.
    pub plan_gap: f64,
}

/// Why the check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the fleet has no offer to model a new contract on")]
    NoTemplate,
    #[error(transparent)]
    Plan(#[from] skyfleet_placement::Infeasible),
}

/// The fleet with portfolio `p`'s commitments added as take-or-pay contracts, delivered on
/// time, at their average price per GPU-hour (escalation included).
pub fn fleet_with(fleet: &Fleet, model: &Model, p: &Portfolio) -> Result<Fleet, CheckError> {
    let template = fleet.offers.first().ok_or(CheckError::NoTemplate)?;
    let mut out = fleet.clone();
    for (j, o) in model.candidates.iter().enumerate() {
        let x = p.gpus[j];
        if x <= 0.0 {
            continue;
        }
        let c = &model.spec.candidates[o.spec];
        let gpus: Vec<f64> = (0..model.months)
            .map(|t| x * c.share(o.start, t, 0))
            .collect();
        let hours: f64 = (0..model.months).map(|t| gpus[t] * model.hours[t]).sum();
        let paid: f64 = (0..model.months)
            .map(|t| gpus[t] * model.hours[t] * c.escalation(o.start, t, 0))
            .sum();
        let avg = p.usd_per_hour[j] / x;
        // Built on an existing offer, so that fields the model gains later keep a value.
        #[allow(clippy::needless_update)]
        out.offers.push(Offer {
            id: OfferId::new(o.id.clone()),
            provider: c.provider.clone(),
            site: c.site.clone(),
            accelerator: c.accelerator.clone(),
            kind: OfferKind::Contract,
            usd_per_gpu_hour: if hours > 0.0 { avg * paid / hours } else { avg },
            gpus,
            interruption_rate: 0.0,
            take_or_pay: true,
            ..template.clone()
        });
    }
    Ok(out)
}

/// Plan the portfolio with the placement core and set the two sides side by side.
pub fn against_plan(fleet: &Fleet, model: &Model, p: &Portfolio) -> Result<PlanCheck, CheckError> {
    let planned = fleet_with(fleet, model, p)?;
    let plan = skyfleet_placement::place(&planned.workloads, &planned, &planned.policy)?;
    let o = &plan.objective;
    let plan_side = Side {
        committed_usd: o.committed_usd.get(),
        market_usd: o.marginal_usd.get(),
        footprint_usd: o.carbon_usd.get() + o.water_usd.get(),
        spend_usd: o.committed_usd.get()
            + o.marginal_usd.get()
            + o.carbon_usd.get()
            + o.water_usd.get(),
        unmet_ref_gpu_hours: plan.unmet.iter().map(|u| u.ref_gpu_hours.get()).sum(),
        n_plus_one_short_months: plan
            .n_plus_one
            .iter()
            .filter(|m| m.required && !m.holds)
            .count(),
        shares: plan
            .shares
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), *v))
            .collect(),
    };

    let m = model.horizon_only(fleet);
    let mut ws = Workspace::default();
    ws.scenario = Scenario::baseline(&m);
    let mut gpu_hours = vec![0.0; m.providers.len()];
    let mut monthly = crate::recourse::Monthly::new(m.months);
    let out = evaluate_scenario(
        &m,
        &mut ws,
        p,
        Wants {
            grad: None,
            providers: Some(&mut gpu_hours),
            monthly: Some(&mut monthly),
        },
    );
    let short_months = monthly.backup_short.iter().filter(|s| **s > 1e-6).count();
    let total: f64 = gpu_hours.iter().sum();
    let commit_side = Side {
        committed_usd: out.committed_usd,
        market_usd: out.market_usd,
        footprint_usd: out.footprint_usd,
        spend_usd: out.spend,
        unmet_ref_gpu_hours: out.unmet,
        n_plus_one_short_months: short_months,
        shares: m
            .providers
            .iter()
            .zip(&gpu_hours)
            .filter(|(_, h)| **h > 0.0)
            .map(|(q, h)| (q.as_str().to_string(), h / total.max(1e-300)))
            .collect(),
    };
    Ok(PlanCheck {
        portfolio: p.name.clone(),
        spend_difference: plan_side.spend_usd / commit_side.spend_usd.max(1e-300) - 1.0,
        commit: commit_side,
        plan: plan_side,
        plan_gap: plan.bound.gap,
    })
}
