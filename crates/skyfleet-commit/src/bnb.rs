//! Branch and bound over the choices that make the SAA problem non-convex: which volume tier
//! each candidate falls in, sizes in whole blocks, and which start month a candidate takes.
//!
//! A node bounds each option's size to a range. In it, the payment of an option whose range
//! spans several tiers is replaced by its lower convex envelope there, and the options of one
//! candidate with several starts may share its `max_gpus` (the convex hull of "one of them").
//! Solving the node by decomposition (`saa`) gives a lower bound for every choice inside the
//! node; every point it visits, rounded to a choice that can be signed, is evaluated at its
//! true price and may become the incumbent. Nodes whose bound is within the tolerance of the
//! incumbent are closed; the others are split on a start, on a tier boundary, or on a block,
//! best bound first. The answer is therefore the optimum over every tier assignment (to the
//! tolerance), whatever the order the candidates are listed in, and the gap reported is over
//! the whole choice: the incumbent less the least bound of any node not proven worse.

use crate::recourse::Portfolio;
use crate::risk;
use crate::saa::{Bounds, Pay, Saa, SaaOptions, SaaResult};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Node {
    bounds: Bounds,
    lb: f64,
    seq: usize,
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    /// The heap pops the least bound first, then the oldest node.
    fn cmp(&self, o: &Self) -> Ordering {
        o.lb.total_cmp(&self.lb).then(o.seq.cmp(&self.seq))
    }
}

struct Incumbent {
    x: Vec<f64>,
    obj: f64,
    losses: Vec<f64>,
}

/// The problem's discrete structure, from the model.
struct Shape {
    /// Per option: the block size and the largest size on the grid.
    block: Vec<f64>,
    max: Vec<f64>,
    /// Candidates with several start options: (options, max_gpus).
    groups: Vec<(Vec<usize>, f64)>,
}

pub(crate) fn search(saa: &mut Saa<'_>, opts: &SaaOptions, clock: &dyn Fn() -> f64) -> SaaResult {
    let model = saa.model;
    let j_n = model.candidates.len();
    let spec = &model.spec.candidates;
    let shape = Shape {
        block: model
            .candidates
            .iter()
            .map(|o| spec[o.spec].block_gpus)
            .collect(),
        max: model
            .candidates
            .iter()
            .map(|o| {
                let c = &spec[o.spec];
                (c.max_gpus / c.block_gpus + 1e-9).floor() * c.block_gpus
            })
            .collect(),
        groups: (0..spec.len())
            .filter(|k| spec[*k].starts.len() > 1)
            .map(|k| {
                let members = (0..j_n)
                    .filter(|j| model.candidates[*j].spec == k)
                    .collect();
                (members, spec[k].max_gpus)
            })
            .collect(),
    };
    saa.stats.tier_assignments = spec
        .iter()
        .map(|c| c.pieces().len() * c.starts.len())
        .product::<usize>()
        .max(1);

    let zero = vec![0.0; j_n];
    let rec = saa.recourse(&zero);
    let losses = saa.losses(&rec, &zero);
    let obj = saa.objective_of(&losses);
    saa.money = obj.abs().max(1.0);
    let mut inc = Incumbent {
        x: zero,
        obj,
        losses,
    };
    if j_n == 0 {
        return finish(saa, inc, obj);
    }
    // A second point for the first cuts: every candidate at its most, at its first start.
    let full: Vec<f64> = (0..j_n)
        .map(|j| {
            if model.first_option(j) {
                shape.max[j]
            } else {
                0.0
            }
        })
        .collect();
    try_point(saa, &shape, &full, &mut inc);

    let tol = |inc: &Incumbent| opts.tolerance * inc.obj.abs().max(1.0);
    let mut heap = BinaryHeap::new();
    let mut seq = 0;
    heap.push(Node {
        bounds: Bounds {
            lo: vec![0.0; j_n],
            hi: shape.max.clone(),
        },
        lb: f64::NEG_INFINITY,
        seq,
    });
    // The least bound of any node closed without proving it worse than the incumbent.
    let mut closed = f64::INFINITY;
    let mut root_bound = None;
    while let Some(mut node) = heap.pop() {
        if node.lb >= inc.obj - tol(&inc) {
            saa.stats.nodes_pruned += 1;
            closed = closed.min(node.lb);
            continue;
        }
        if saa.stats.nodes >= opts.max_nodes {
            closed = closed.min(node.lb);
            heap.into_iter().for_each(|n| closed = closed.min(n.lb));
            break;
        }
        saa.stats.nodes += 1;
        let pay: Vec<Pay> = (0..j_n)
            .map(|j| payment_in(saa, j, node.bounds.lo[j], node.bounds.hi[j]))
            .collect();
        let groups: Vec<(Vec<usize>, f64)> = shape
            .groups
            .iter()
            .filter(|(m, _)| m.iter().filter(|j| node.bounds.hi[**j] > 0.0).count() > 1)
            .cloned()
            .collect();
        // Decomposition on this node.
        let mut best: Option<(Vec<f64>, f64)> = None;
        let mut converged = false;
        let mut pruned = false;
        for _ in 0..opts.max_iterations {
            saa.stats.iterations += 1;
            let Some((x, lb)) = saa.master(&node.bounds, &pay, &groups, clock) else {
                break;
            };
            node.lb = node.lb.max(lb);
            if node.lb >= inc.obj - tol(&inc) {
                pruned = true;
                break;
            }
            let rec = saa.recourse(&x);
            let relaxed: Vec<f64> = (0..j_n).map(|j| pay_at(&pay[j], x[j])).collect();
            let r_obj = saa.objective_of(&saa.losses(&rec, &relaxed));
            if feasible(&shape, &x) {
                let truth: Vec<f64> = (0..j_n).map(|j| true_pay(saa, j, x[j])).collect();
                let losses = saa.losses(&rec, &truth);
                let obj = saa.objective_of(&losses);
                offer(&mut inc, &x, obj, losses);
            } else {
                try_point(saa, &shape, &round(&shape, &x), &mut inc);
            }
            if best.as_ref().is_none_or(|b| r_obj < b.1) {
                best = Some((x, r_obj));
            }
            if best.as_ref().unwrap().1 - node.lb <= tol(&inc) {
                converged = true;
                break;
            }
        }
        if root_bound.is_none() {
            root_bound = Some(node.lb);
        }
        if pruned {
            saa.stats.nodes_pruned += 1;
            closed = closed.min(node.lb);
            continue;
        }
        let Some((x, _)) = best else {
            // The master failed here: the node is closed with what it proved.
            closed = closed.min(node.lb);
            continue;
        };
        if node.lb >= inc.obj - tol(&inc) {
            closed = closed.min(node.lb);
            continue;
        }
        let children = if converged {
            branch(saa, &shape, &node.bounds, &pay, &x)
        } else {
            Vec::new()
        };
        if children.is_empty() {
            // Solved: the relaxation is exact at its optimum (or the iterations ran out, and
            // the bound stands as it is).
            closed = closed.min(node.lb);
            continue;
        }
        for b in children {
            seq += 1;
            heap.push(Node {
                bounds: b,
                lb: node.lb,
                seq,
            });
        }
    }
    saa.stats.root_bound = root_bound.unwrap_or(inc.obj);
    let lb = closed.min(inc.obj);
    finish(saa, inc, lb)
}

fn finish(saa: &mut Saa<'_>, inc: Incumbent, lb: f64) -> SaaResult {
    let model = saa.model;
    let sorted = risk::sorted(inc.losses.iter().copied());
    let eta = risk::quantile(&sorted, model.spec.risk.alpha);
    saa.stats.objective = inc.obj;
    saa.stats.lower_bound = lb;
    saa.stats.relative_gap = (inc.obj - lb).max(0.0) / inc.obj.abs().max(1.0);
    SaaResult {
        portfolio: Portfolio::priced(model, "optimised", inc.x),
        stats: saa.stats.clone(),
        eta,
    }
}

fn offer(inc: &mut Incumbent, x: &[f64], obj: f64, losses: Vec<f64>) {
    if obj < inc.obj {
        *inc = Incumbent {
            x: x.to_vec(),
            obj,
            losses,
        };
    }
}

/// Evaluate a signable point at its true price (adding cuts there) and keep it if better.
fn try_point(saa: &mut Saa<'_>, shape: &Shape, x: &[f64], inc: &mut Incumbent) {
    debug_assert!(feasible(shape, x));
    let rec = saa.recourse(x);
    let truth: Vec<f64> = (0..x.len()).map(|j| true_pay(saa, j, x[j])).collect();
    let losses = saa.losses(&rec, &truth);
    let obj = saa.objective_of(&losses);
    offer(inc, x, obj, losses);
}

fn true_pay(saa: &Saa<'_>, j: usize, x: f64) -> f64 {
    let o = &saa.model.candidates[j];
    saa.model.spec.candidates[o.spec].payment(x)
}

fn on_grid(x: f64, block: f64) -> bool {
    let k = x / block;
    (k - k.round()).abs() <= 1e-9 * k.abs().max(1.0)
}

/// Whether `x` can be signed: whole blocks, one start per candidate.
fn feasible(shape: &Shape, x: &[f64]) -> bool {
    x.iter().zip(&shape.block).all(|(x, b)| on_grid(*x, *b))
        && shape
            .groups
            .iter()
            .all(|(m, _)| m.iter().filter(|j| x[**j] > 0.0).count() <= 1)
}

/// The nearest signable point: each size to the nearest block, each candidate at the start
/// that holds most of it.
fn round(shape: &Shape, x: &[f64]) -> Vec<f64> {
    let mut r: Vec<f64> = x
        .iter()
        .zip(shape.block.iter().zip(&shape.max))
        .map(|(x, (b, max))| ((x / b).round() * b).clamp(0.0, *max))
        .collect();
    for (members, _) in &shape.groups {
        let keep = members
            .iter()
            .copied()
            .max_by(|a, b| r[*a].total_cmp(&r[*b]).then(b.cmp(a)));
        for &j in members {
            if Some(j) != keep {
                r[j] = 0.0;
            }
        }
    }
    r
}

/// The payment of option `j` (per hour of full delivery) as the master states it on `[lo, hi]`:
/// exactly when it is linear on the whole range, else by its lower convex envelope.
fn payment_in(saa: &Saa<'_>, j: usize, lo: f64, hi: f64) -> Pay {
    if hi <= 0.0 {
        return Pay::Zero;
    }
    let segs = segments(saa, j, lo, hi);
    if let [only] = &segs[..] {
        if !only.open_right {
            return Pay::Line(only.line.0, only.line.1);
        }
    }
    let f = |x: f64| true_pay(saa, j, x);
    // Lower convex hull of (x, f(x)) over the breakpoints: f is linear between them and takes
    // its lower value at a jump, so the hull lies below it everywhere.
    let mut hull: Vec<(f64, f64)> = Vec::new();
    for p in breakpoints(saa, j, lo, hi).into_iter().map(|x| (x, f(x))) {
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b if it lies on or above the segment a-p.
            if (b.1 - a.1) * (p.0 - a.0) >= (p.1 - a.1) * (b.0 - a.0) {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    if hull.len() == 1 {
        return Pay::Line(0.0, hull[0].1 / hull[0].0.max(1e-300));
    }
    Pay::Envelope(
        hull.windows(2)
            .map(|w| {
                let p = (w[1].1 - w[0].1) / (w[1].0 - w[0].0);
                (w[0].1 - p * w[0].0, p)
            })
            .collect(),
    )
}

/// `lo`, `hi`, and every tier boundary strictly between.
fn breakpoints(saa: &Saa<'_>, j: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut v = vec![lo];
    for q in &saa.pieces[j] {
        for e in [q.lo, q.hi] {
            if e > lo && e < hi {
                v.push(e);
            }
        }
    }
    v.push(hi);
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// A range on which the payment is one line: `[lo, hi]`, or `[lo, hi)` when it drops at `hi`
/// (an all-units threshold).
struct Segment {
    lo: f64,
    hi: f64,
    open_right: bool,
    line: (f64, f64),
}

/// `[lo, hi]` cut into the ranges on which option `j`'s payment is linear.
fn segments(saa: &Saa<'_>, j: usize, lo: f64, hi: f64) -> Vec<Segment> {
    let f = |x: f64| true_pay(saa, j, x);
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let points = breakpoints(saa, j, lo, hi);
    let mut out: Vec<Segment> = Vec::new();
    if points.len() == 1 {
        let Pay::Line(a, p) = line_at(saa, j, lo) else {
            return out;
        };
        out.push(Segment {
            lo,
            hi,
            open_right: false,
            line: (a, p),
        });
        return out;
    }
    for w in points.windows(2) {
        let Pay::Line(a, p) = line_at(saa, j, 0.5 * (w[0] + w[1])) else {
            continue;
        };
        let open_right = !near(a + p * w[1], f(w[1]));
        out.push(Segment {
            lo: w[0],
            hi: w[1],
            open_right,
            line: (a, p),
        });
    }
    // A drop at the range's top leaves that one point to a piece of its own.
    if out.last().is_some_and(|s| s.open_right) {
        if let Pay::Line(a, p) = line_at(saa, j, hi) {
            out.push(Segment {
                lo: hi,
                hi,
                open_right: false,
                line: (a, p),
            });
        }
    }
    out
}

/// The piece of option `j` that is cheapest at `x`, as a line.
fn line_at(saa: &Saa<'_>, j: usize, x: f64) -> Pay {
    saa.pieces[j]
        .iter()
        .filter(|q| x >= q.lo - 1e-6 && x <= q.hi + 1e-6)
        .min_by(|a, b| a.at(x).total_cmp(&b.at(x)))
        .map_or(Pay::Zero, |q| Pay::Line(q.a, q.p))
}

fn pay_at(pay: &Pay, x: f64) -> f64 {
    match pay {
        Pay::Zero => 0.0,
        Pay::Line(a, p) => a + p * x,
        Pay::Envelope(lines) => lines
            .iter()
            .map(|(a, p)| a + p * x)
            .fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Children of a node whose relaxation is not exact at its optimum `x`: split on a start, then
/// on the tier boundaries of the option whose envelope is furthest below its price, then on
/// the block of the size furthest from whole. None if `x` is signable and exactly priced.
fn branch(saa: &Saa<'_>, shape: &Shape, b: &Bounds, pay: &[Pay], x: &[f64]) -> Vec<Bounds> {
    let j_n = x.len();
    for (members, _) in &shape.groups {
        let on: Vec<usize> = members.iter().copied().filter(|j| x[*j] > 0.0).collect();
        if on.len() > 1 {
            return members
                .iter()
                .filter(|j| b.hi[**j] > 0.0)
                .map(|&keep| {
                    let mut c = b.clone();
                    for &j in members {
                        if j != keep {
                            c.lo[j] = 0.0;
                            c.hi[j] = 0.0;
                        }
                    }
                    c
                })
                .collect();
        }
    }
    let gap = |j: usize| saa.mean_hours[j] * (true_pay(saa, j, x[j]) - pay_at(&pay[j], x[j]));
    let worst = (0..j_n)
        .filter(|j| matches!(pay[*j], Pay::Envelope(_)))
        .max_by(|a, c| gap(*a).total_cmp(&gap(*c)).then(c.cmp(a)));
    if let Some(j) = worst.filter(|j| gap(*j) > 0.0) {
        let blk = shape.block[j];
        return segments(saa, j, b.lo[j], b.hi[j])
            .into_iter()
            .filter_map(|seg| {
                let mut c = b.clone();
                c.lo[j] = (seg.lo / blk - 1e-9).ceil() * blk;
                c.hi[j] = if seg.open_right {
                    // The largest whole number of blocks below the threshold.
                    ((seg.hi / blk - 1e-9).ceil() - 1.0) * blk
                } else {
                    (seg.hi / blk + 1e-9).floor() * blk
                };
                (c.lo[j] <= c.hi[j]).then_some(c)
            })
            .collect();
    }
    let off = |j: usize| {
        let k = x[j] / shape.block[j];
        (k - k.round()).abs() * shape.block[j] * saa.mean_hours[j]
    };
    let frac = (0..j_n)
        .filter(|j| !on_grid(x[*j], shape.block[*j]))
        .max_by(|a, c| off(*a).total_cmp(&off(*c)).then(c.cmp(a)));
    if let Some(j) = frac {
        let blk = shape.block[j];
        let below = (x[j] / blk).floor() * blk;
        let mut left = b.clone();
        left.hi[j] = below;
        let mut right = b.clone();
        right.lo[j] = below + blk;
        return [left, right]
            .into_iter()
            .filter(|c| c.lo[j] <= c.hi[j])
            .collect();
    }
    Vec::new()
}
