//! Reading `[[inference]]`: demand per latency group, as base and growth or as a series.

use super::raw::{read_common, RawDemand, RawInference};
use super::reader::{Num, Reader, NON_NEG};
use super::span::Loc;

const GROWTH: Num = Num {
    ok: |g| g > -1.0,
    what: "a monthly growth rate > -1",
};

pub(crate) fn read_inference(t: &Reader<'_, '_>) -> RawInference {
    let common = read_common(t);
    let n_plus_one = t.bool("n_plus_one").is_none_or(|b| b.v);
    let what = "a table of latency groups, such as [inference.demand.us]";
    let demand = match t.raw("demand", Some(what)) {
        Some((v, at)) => match t.as_table(v, at, what) {
            Some(groups) => {
                let out = groups
                    .entries()
                    .into_iter()
                    .map(|(group, v)| {
                        let at = t.ctx.loc(v.span(), group.at.path.clone());
                        let d = groups
                            .as_table(v, at, "a table with `base` (and `growth`) or `series`")
                            .and_then(|g| {
                                let d = read_group(&g);
                                g.finish();
                                d
                            });
                        (group, d)
                    })
                    .collect();
                groups.finish();
                out
            }
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    RawInference {
        common,
        n_plus_one,
        demand,
    }
}

fn read_group(g: &Reader<'_, '_>) -> Option<RawDemand> {
    let base = g.f64("base", false, NON_NEG);
    let growth = g.f64("growth", false, GROWTH);
    let series = g.f64_list("series", false, NON_NEG);
    let written = |k: &str| g.raw_present(k);
    match (written("base") || written("growth"), written("series")) {
        (true, true) => {
            let at = series
                .as_ref()
                .map_or_else(|| g.at.clone(), |s| s.at.clone());
            g.ctx.error(
                &at,
                "`series` and `base`/`growth` are exclusive: give one or the other",
            );
            None
        }
        (false, false) => {
            g.ctx.error(
                &g.at,
                "expected `base` (reference GPUs in the first month, with an optional monthly \
                 `growth`) or `series` (one number per month of the horizon)",
            );
            None
        }
        (false, true) => series.map(RawDemand::Series),
        (true, false) => {
            if !written("base") {
                let at = Loc {
                    path: g.path("base"),
                    ..g.at.clone()
                };
                g.ctx.error(
                    &at,
                    "missing required field `base` (reference GPUs in the first month, >= 0)",
                );
            }
            let growth = match growth {
                Some(x) => x.v,
                None if written("growth") => return None,
                None => 0.0,
            };
            Some(RawDemand::Growth {
                base: base?.v,
                growth,
            })
        }
    }
}
