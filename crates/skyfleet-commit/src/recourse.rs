//! The second stage: given a portfolio and a scenario, buy recourse month by month, and count.
//!
//! Within a month the recourse problem is a linear program: minimise Σ cost·use + penalty ·
//! (unmet demand + missing backup) over the units' use, where each unit serves the demand nodes
//! it may serve (`model`), within its capacity and, for committed units, its hub's share cap.
//! The sets of units that may serve each node are nested (backup ⊂ group ⊂ firm ⊂ flexible,
//! and hubs sit inside one group), so the feasible uses form a polymatroid and filling the
//! cheapest units first, each into the most restricted node it may serve, is optimal. This
//! module does exactly that, which makes a month a few hundred nanoseconds instead of an LP.
//!
//! The same pass gives the LP's dual: a node's price is the penalty if it is left short, else
//! the cost of the dearest unit serving it, raised to its parent's price; a unit's capacity is
//! worth the price of the most restricted node it may serve less its cost (and less the hub's
//! price when its hub is full). That is the subgradient the SAA's cuts are made of.

use crate::model::{Model, FIRM_ANY, GROUPS, NODES, SPOT_OK};
use crate::scenario::Scenario;
use skyfleet_model::OfferKind;

/// Commitment sizes (GPUs, per candidate option) and what each pays per hour of full delivery
/// (`Candidate::payment`, before escalation).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Portfolio {
    pub name: String,
    pub gpus: Vec<f64>,
    pub usd_per_hour: Vec<f64>,
}

impl Portfolio {
    /// Sizes at what they truly cost: each option's cheapest payment piece.
    pub fn priced(model: &Model, name: &str, gpus: Vec<f64>) -> Portfolio {
        let usd_per_hour = model
            .candidates
            .iter()
            .zip(&gpus)
            .map(|(o, g)| model.spec.candidates[o.spec].payment(*g))
            .collect();
        Portfolio {
            name: name.to_string(),
            gpus,
            usd_per_hour,
        }
    }
}

/// What one scenario cost a portfolio. Money is discounted to the horizon's start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Spend plus penalties, less the terminal credit: the loss the objective and the risk
    /// figures use.
    pub cost: f64,
    /// Money paid: commitments (whole terms), market purchases and priced footprint.
    pub spend: f64,
    /// Commitment payments: existing contracts and candidates.
    pub committed_usd: f64,
    /// The candidates' part of `committed_usd`.
    pub candidate_usd: f64,
    /// The part of `committed_usd` paid after the horizon.
    pub after_horizon_usd: f64,
    /// Credit for candidate capacity delivered after the horizon.
    pub terminal_usd: f64,
    pub market_usd: f64,
    pub footprint_usd: f64,
    /// Penalties: unmet demand and missing N+1 backup.
    pub penalty_usd: f64,
    pub demand: f64,
    pub unmet: f64,
    /// N+1 backup asked for, and how much of it was missing (reference GPU-hours).
    pub backup: f64,
    pub backup_short: f64,
    pub stranded_gpu_hours: f64,
    pub stranded_usd: f64,
}

impl Outcome {
    /// Everything but the candidates' payments: the part the SAA's cuts approximate.
    pub fn recourse(&self) -> f64 {
        self.cost - self.candidate_usd
    }
}

/// Sums per month over scenarios, for charts and CSVs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Monthly {
    /// Committed capacity delivered (reference GPU-hours).
    pub committed: Vec<f64>,
    /// Recourse bought (reference GPU-hours).
    pub market: Vec<f64>,
    pub unmet: Vec<f64>,
    /// N+1 backup missing (reference GPU-hours).
    pub backup_short: Vec<f64>,
    pub stranded_gpu_hours: Vec<f64>,
}

impl Monthly {
    pub fn new(n: usize) -> Self {
        Monthly {
            committed: vec![0.0; n],
            market: vec![0.0; n],
            unmet: vec![0.0; n],
            backup_short: vec![0.0; n],
            stranded_gpu_hours: vec![0.0; n],
        }
    }
    pub fn add(&mut self, o: &Monthly) {
        for (a, b) in [
            (&mut self.committed, &o.committed),
            (&mut self.market, &o.market),
            (&mut self.unmet, &o.unmet),
            (&mut self.backup_short, &o.backup_short),
            (&mut self.stranded_gpu_hours, &o.stranded_gpu_hours),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// Extra outputs of [`evaluate_scenario`], each optional.
pub struct Wants<'a> {
    /// Receives d(recourse)/d(gpus) per candidate option.
    pub grad: Option<&'a mut [f64]>,
    /// Receives GPU-hours used per provider.
    pub providers: Option<&'a mut [f64]>,
    pub monthly: Option<&'a mut Monthly>,
}

impl Wants<'_> {
    pub fn none() -> Self {
        Wants {
            grad: None,
            providers: None,
            monthly: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Tag {
    Contract(usize),
    Candidate(usize),
}

/// Scratch space for one thread.
#[derive(Debug, Default)]
pub struct Workspace {
    pub scenario: Scenario,
    /// Committed units in order of use cost (fixed), built on first use.
    committed: Vec<Tag>,
    /// Use cost of each committed unit, in `committed` order.
    committed_cost: Vec<f64>,
    /// Market units of each kind (on-demand, spot, other) by cost, kept from month to month:
    /// one multiplier moves a kind's prices together, so each stays nearly sorted.
    lists: [Vec<u32>; 3],
    cost: Vec<f64>,
    cap: Vec<f64>,
}

fn kind_index(k: OfferKind) -> usize {
    match k {
        OfferKind::OnDemand => 0,
        OfferKind::Spot => 1,
        OfferKind::Contract => 2,
    }
}

/// The state of one month's greedy pass.
struct Month {
    rem: [f64; NODES],
    last: [f64; NODES],
    open: usize,
    hub_room: Vec<f64>,
    hub_full: Vec<bool>,
    hub_last: Vec<f64>,
}

impl Month {
    /// Serve from node `first` up its chain, at most `avail`; returns what was taken.
    fn serve(&mut self, first: usize, avail: f64, cost: f64) -> f64 {
        let mut take = 0.0;
        let mut node = Some(first);
        while let Some(k) = node {
            let left = avail - take;
            if left <= 0.0 {
                break;
            }
            let r = self.rem[k];
            if r > 0.0 {
                if left >= r {
                    take += r;
                    self.rem[k] = 0.0;
                    self.open -= 1;
                } else {
                    take = avail;
                    self.rem[k] = r - left;
                }
                self.last[k] = cost;
            }
            node = crate::model::parent(k);
        }
        take
    }
}

/// One portfolio in one scenario (already drawn into `ws.scenario`).
pub fn evaluate_scenario(
    model: &Model,
    ws: &mut Workspace,
    p: &Portfolio,
    mut wants: Wants<'_>,
) -> Outcome {
    if ws.committed.len() != model.contracts.len() + model.candidates.len() {
        let mut tags: Vec<(f64, Tag)> = model
            .contracts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.use_cost, Tag::Contract(i)))
            .chain(
                model
                    .candidates
                    .iter()
                    .enumerate()
                    .map(|(j, c)| (c.use_cost, Tag::Candidate(j))),
            )
            .collect();
        tags.sort_by(|a, b| a.0.total_cmp(&b.0));
        ws.committed_cost = tags.iter().map(|(c, _)| *c).collect();
        ws.committed = tags.into_iter().map(|(_, t)| t).collect();
    }
    if ws.cost.len() != model.market.len() {
        ws.lists = Default::default();
        for (i, m) in model.market.iter().enumerate() {
            ws.lists[kind_index(m.kind)].push(i as u32);
        }
        ws.cost = vec![0.0; model.market.len()];
        ws.cap = vec![0.0; model.market.len()];
    }
    let sc = &ws.scenario;
    let np = model.providers.len();
    let penalty = model.spec.risk.unmet_usd_per_ref_gpu_hour;
    let mut out = Outcome::default();
    if let Some(g) = wants.grad.as_deref_mut() {
        g.fill(0.0);
    }
    let mut st = Month {
        rem: [0.0; NODES],
        last: [0.0; NODES],
        open: 0,
        hub_room: vec![0.0; model.hubs.len()],
        hub_full: vec![false; model.hubs.len()],
        hub_last: vec![0.0; model.hubs.len()],
    };
    for t in 0..model.months {
        let h = model.hours[t];
        let disc = model.discount[t];
        let lost = &sc.lost[t * np..(t + 1) * np];
        sc.nodes(model, t, &mut st.rem);
        let mut demand = 0.0;
        let mut backup = 0.0;
        for k in 0..NODES {
            if Model::is_demand(k) {
                demand += st.rem[k];
            } else {
                backup += st.rem[k];
            }
        }
        st.open = st.rem.iter().filter(|r| **r > 0.0).count();
        st.last = [0.0; NODES];
        let hub_cap = model
            .share_cap
            .map_or(f64::INFINITY, |s| s * (demand + backup));
        st.hub_room.fill(hub_cap);
        st.hub_full.fill(false);
        st.hub_last.fill(0.0);

        // Market units by this month's cost: insertion sort from last month's order.
        let nm = model.market.len();
        let caps = &model.market_cap[t * nm..(t + 1) * nm];
        let mults = [sc.od_mult[t], sc.spot_mult[t], 1.0];
        let avails = [sc.od_avail[t], sc.spot_avail[t], 1.0];
        let units = model
            .market_price
            .iter()
            .zip(&model.market_footprint)
            .zip(caps.iter().zip(&model.market_kind))
            .zip(&model.market_provider);
        for ((((price, fp), (cap, k)), prov), (cost, c)) in
            units.zip(ws.cost.iter_mut().zip(ws.cap.iter_mut()))
        {
            *cost = price * mults[*k] + fp;
            *c = cap * avails[*k] * (1.0 - lost[*prov]);
        }
        for list in ws.lists.iter_mut() {
            insertion_sort(list, &ws.cost);
        }

        let (mut committed_cap, mut market_used) = (0.0, 0.0);
        let mut stranded_h = 0.0;
        let mut heads = [0usize; 3];
        let mut market_open = true;
        let mut price_take = [0.0; 3];
        let mut fp_take = 0.0;
        let mut ci = 0; // next committed unit
        loop {
            // The cheapest next unit: committed first on a tie, then by kind.
            let mut pick: Option<usize> = None; // None: committed
            let mut best = f64::INFINITY;
            let have_c = ci < ws.committed.len();
            if have_c {
                best = ws.committed_cost[ci];
            }
            if market_open {
                for (k, (list, head)) in ws.lists.iter().zip(&heads).enumerate() {
                    if let Some(&i) = list.get(*head) {
                        let c = ws.cost[i as usize];
                        if c < best {
                            best = c;
                            pick = Some(k);
                        }
                    }
                }
            }
            let take_committed = pick.is_none();
            if take_committed && !have_c {
                break;
            }
            let next_c = ws.committed.get(ci).copied();
            let next_m = pick.map(|k| {
                let i = ws.lists[k][heads[k]] as usize;
                heads[k] += 1;
                i
            });
            if take_committed {
                ci += 1;
                let tag = next_c.unwrap();
                let (unit, gpus, price) = match tag {
                    Tag::Contract(i) => {
                        let c = &model.contracts[i];
                        let d = sc.contract_delay[i];
                        let g = if t >= d { c.gpus[t - d] } else { 0.0 };
                        (c, g, c.usd_per_gpu_hour)
                    }
                    Tag::Candidate(j) => {
                        let c = &model.candidates[j];
                        let d = sc.candidate_delay[j];
                        let spec = &model.spec.candidates[c.spec];
                        let g = p.gpus[j] * spec.share(c.start, t, d);
                        let avg = if p.gpus[j] > 0.0 {
                            p.usd_per_hour[j] / p.gpus[j]
                        } else {
                            0.0
                        };
                        (c, g, avg * spec.escalation(c.start, t, d))
                    }
                };
                if gpus <= 0.0 {
                    continue;
                }
                let paid_hours = gpus * h;
                if let Tag::Contract(_) = tag {
                    out.committed_usd += paid_hours * price * disc;
                }
                let cap = paid_hours * unit.rel * (1.0 - lost[unit.provider]);
                committed_cap += cap;
                let mut take = 0.0;
                if model.allowed[unit.group] && unit.use_cost < penalty && st.open > 0 {
                    let room = st.hub_room[unit.hub];
                    let avail = cap.min(room);
                    let first = model.first_node(t, unit.group, unit.provider);
                    take = st.serve(first, avail, unit.use_cost);
                    if take > 0.0 {
                        st.hub_room[unit.hub] = room - take;
                        st.hub_last[unit.hub] = unit.use_cost;
                        if room < cap && take >= avail {
                            st.hub_full[unit.hub] = true;
                        }
                        out.footprint_usd += take * unit.use_cost * disc;
                        if let Some(pr) = wants.providers.as_deref_mut() {
                            pr[unit.provider] += take / unit.rel;
                        }
                    } else if room <= 0.0 {
                        st.hub_full[unit.hub] = true;
                    }
                }
                let stranded = (paid_hours - take / unit.rel).max(0.0);
                stranded_h += stranded;
                out.stranded_gpu_hours += stranded;
                out.stranded_usd += stranded * price * disc;
            } else {
                let i = next_m.unwrap();
                if st.open == 0 || ws.cost[i] >= penalty {
                    // Every node is full, or the rest cost more than going without.
                    market_open = false;
                    continue;
                }
                let cap = ws.cap[i];
                if cap <= 0.0 {
                    continue;
                }
                let first = model.market_first[t * nm + i] as usize;
                let take = st.serve(first, cap, ws.cost[i]);
                if take > 0.0 {
                    // Money in the month's sums, multiplied out once at the end of it.
                    let k = pick.unwrap();
                    price_take[k] += take * model.market_price[i];
                    fp_take += take * model.market_footprint[i];
                    market_used += take;
                    if let Some(pr) = wants.providers.as_deref_mut() {
                        pr[model.market_provider[i]] += take * model.market_inv_rel[i];
                    }
                }
            }
        }
        out.market_usd +=
            (price_take[0] * mults[0] + price_take[1] * mults[1] + price_take[2]) * disc;
        out.footprint_usd += fp_take * disc;
        let mut unmet = 0.0;
        let mut short = 0.0;
        for k in 0..NODES {
            if Model::is_demand(k) {
                unmet += st.rem[k];
            } else {
                short += st.rem[k];
            }
        }
        out.penalty_usd += (unmet + short) * penalty * disc;
        out.demand += demand;
        out.unmet += unmet;
        out.backup += backup;
        out.backup_short += short;
        if let Some(m) = wants.monthly.as_deref_mut() {
            m.committed[t] += committed_cap;
            m.market[t] += market_used;
            m.unmet[t] += unmet;
            m.backup_short[t] += short;
            m.stranded_gpu_hours[t] += stranded_h;
        }
        if let Some(g) = wants.grad.as_deref_mut() {
            let price = |k: usize| if st.rem[k] > 0.0 { penalty } else { st.last[k] };
            let mut pi = [0.0; NODES];
            pi[SPOT_OK] = price(SPOT_OK);
            pi[FIRM_ANY] = price(FIRM_ANY).max(pi[SPOT_OK]);
            for gr in 0..GROUPS {
                let f = crate::model::group_firm(gr);
                let b = crate::model::backup(gr);
                pi[f] = price(f).max(pi[FIRM_ANY]);
                pi[b] = price(b).max(pi[f]);
            }
            for (j, c) in model.candidates.iter().enumerate() {
                if !model.allowed[c.group] {
                    continue;
                }
                let per_gpu = model.delivered(j, t, sc.candidate_delay[j]);
                if per_gpu <= 0.0 {
                    continue;
                }
                let top = pi[model.first_node(t, c.group, c.provider)];
                let hub = if st.hub_full[c.hub] {
                    (top - st.hub_last[c.hub]).max(0.0)
                } else {
                    0.0
                };
                let rho = (top - c.use_cost - hub).max(0.0);
                if rho > 0.0 {
                    g[j] -= rho * per_gpu * (1.0 - lost[c.provider]) * disc;
                }
            }
        }
    }
    // Money outside the month loop: candidates' whole terms, contracts pushed past the horizon,
    // the terminal credit.
    for (i, d) in sc.contract_delay.iter().enumerate() {
        let after = model.contract_after_usd[i][*d];
        out.committed_usd += after;
        out.after_horizon_usd += after;
    }
    for (j, d) in sc.candidate_delay.iter().enumerate() {
        if p.gpus[j] <= 0.0 {
            continue;
        }
        let k = &model.coef[j][*d];
        let pay = p.usd_per_hour[j] * k.paid_hours;
        out.candidate_usd += pay;
        out.committed_usd += pay;
        out.after_horizon_usd += p.usd_per_hour[j] * k.paid_hours_after;
        out.terminal_usd += p.gpus[j] * k.terminal_usd;
    }
    if let Some(g) = wants.grad.as_deref_mut() {
        for (j, d) in sc.candidate_delay.iter().enumerate() {
            g[j] -= model.coef[j][*d].terminal_usd;
        }
    }
    out.spend = out.committed_usd + out.market_usd + out.footprint_usd;
    out.cost = out.spend + out.penalty_usd - out.terminal_usd;
    out
}

/// Sort `order` by `(cost, index)`: linear when it is nearly sorted already.
fn insertion_sort(order: &mut [u32], cost: &[f64]) {
    let less = |a: u32, b: u32| {
        let (ca, cb) = (cost[a as usize], cost[b as usize]);
        ca < cb || (ca == cb && a < b)
    };
    for i in 1..order.len() {
        let x = order[i];
        let mut k = i;
        while k > 0 && less(x, order[k - 1]) {
            order[k] = order[k - 1];
            k -= 1;
        }
        order[k] = x;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn insertion_sort_orders_by_cost_then_index() {
        let cost = [3.0, 1.0, 2.0, 1.0];
        let mut order = vec![0, 1, 2, 3];
        super::insertion_sort(&mut order, &cost);
        assert_eq!(order, [1, 3, 2, 0]);
    }
}
