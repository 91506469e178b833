//! The catalog as a flat table of figures and their sources, for printing.

use crate::meta::BuiltinCatalog;
use skyfleet_model::OfferKind;

/// One figure of one entry, with where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    /// A site id, an accelerator id or an offer id.
    pub entity: String,
    pub field: &'static str,
    /// The figure.
    pub value: f64,
    pub source: String,
    /// For prices: the date the price was read.
    pub as_of: Option<skyfleet_model::Date>,
}

fn row(entity: &str, field: &'static str, value: f64, source: &str) -> SourceRow {
    SourceRow {
        entity: entity.to_string(),
        field,
        value,
        source: source.to_string(),
        as_of: None,
    }
}

impl BuiltinCatalog {
    /// Every figure of every site, accelerator and offer, with its source: sites first, then
    /// accelerators, then offers, each in catalog order.
    pub fn source_rows(&self) -> Vec<SourceRow> {
        let mut rows = Vec::new();
        for (id, s) in &self.catalog.sites {
            let (e, src) = (id.as_str(), &self.sites[id].sources);
            rows.push(row(e, "pue", s.pue, &src.pue));
            rows.push(row(e, "wue_l_per_kwh", s.wue_l_per_kwh, &src.wue_l_per_kwh));
            rows.push(row(
                e,
                "grid_gco2e_per_kwh",
                s.grid_gco2e_per_kwh,
                &src.grid_gco2e_per_kwh,
            ));
            rows.push(row(
                e,
                "grid_water_l_per_kwh",
                s.grid_water_l_per_kwh,
                &src.grid_water_l_per_kwh,
            ));
        }
        for (id, a) in &self.catalog.accelerators {
            let (e, src) = (id.as_str(), &self.accelerators[id].sources);
            rows.push(row(e, "memory_gb", a.memory_gb, &src.memory_gb));
            let board = self.accelerators[id].board_power_w;
            rows.push(row(e, "board_power_w", board, &src.board_power_w));
            rows.push(row(e, "node_power_w", a.power_w, &src.node_power_w));
            rows.push(row(e, "train_rel", a.train_rel, &src.train_rel));
            rows.push(row(e, "infer_rel", a.infer_rel, &src.infer_rel));
        }
        let assumption = |field: &str| self.assumptions.get(field).map_or("", String::as_str);
        for entry in &self.offers {
            let (o, m) = (&entry.offer, &entry.meta);
            let e = o.id.as_str();
            let price_src = if m.note.is_empty() {
                m.source.clone()
            } else {
                format!("{}; {}", m.source, m.note)
            };
            rows.push(SourceRow {
                as_of: o.as_of,
                ..row(e, "usd_per_gpu_hour", o.usd_per_gpu_hour, &price_src)
            });
            rows.push(row(
                e,
                "instance_gpus",
                f64::from(o.instance_gpus),
                &format!("{}: {}", m.source, m.instance),
            ));
            rows.push(row(e, "limit_gpus", o.gpus[0], assumption("limit_gpus")));
            if o.kind == OfferKind::Spot {
                rows.push(row(
                    e,
                    "interruption_rate",
                    o.interruption_rate,
                    assumption("interruption_rate"),
                ));
            }
        }
        rows
    }
}
