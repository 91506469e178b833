//! GCP's price files list the host VM (without GPUs) and the GPUs (without a VM) on separate
//! rows: the instance price is the host-VM row plus the 8-GPU row of the same zone. This is also
//! where GCP's flawed GPU rows are found, and repriced where the data knows the true price.

use super::rows::Row;
use super::{Fixes, Priced};
use crate::checks::median;
use std::collections::BTreeMap;

/// The 8-GPU machine type of each GPU block, as SkyPilot names the GPU.
pub(crate) const HOSTS: [(&str, &str); 6] = [
    ("A100", "a2-highgpu-8g"),
    ("A100-80GB", "a2-ultragpu-8g"),
    ("H100", "a3-highgpu-8g"),
    ("H100-MEGA", "a3-megagpu-8g"),
    ("H200", "a3-ultragpu-8g"),
    ("B200", "a4-highgpu-8g"),
];

/// An on-demand GPU row below this share of the highest zone price of the same GPU is flawed:
/// GCP's regional uplifts stay within about 30%.
pub(crate) const LOW_SHARE: f64 = 0.6;
/// A spot GPU row above this multiple of the median spot price of the same GPU is flawed.
pub(crate) const HIGH_SPOT: f64 = 2.0;

fn host_of(accel: &str) -> Option<&'static str> {
    HOSTS.iter().find(|(a, _)| *a == accel).map(|(_, h)| *h)
}

/// Joins host-VM and GPU rows into priced 8-GPU instances; other GPU rows pass through.
pub(crate) fn join(rows: Vec<Row>, fx: &mut Fixes) -> Vec<Priced> {
    let is_host = |r: &Row| r.accelerator.is_empty() && HOSTS.iter().any(|(_, h)| *h == r.instance);
    // Host price by (machine type, zone), and by (machine type, region) from its first zone.
    let mut host_zone: BTreeMap<(&str, &str), &Row> = BTreeMap::new();
    let mut host_region: BTreeMap<(&str, &str), &Row> = BTreeMap::new();
    for r in rows.iter().filter(|r| is_host(r)) {
        host_zone.entry((&r.instance, &r.zone)).or_insert(r);
        host_region.entry((&r.instance, &r.region)).or_insert(r);
    }
    let mut out = Vec::new();
    let mut blocks: Vec<&Row> = Vec::new();
    for r in &rows {
        match (r.instance.is_empty(), r.accelerator.is_empty()) {
            (true, false) => blocks.push(r),
            (false, false) => out.push(Priced::from_row(r, &r.accelerator)),
            (false, true) if is_host(r) => {}
            _ => fx.no_gpu("gcp"),
        }
    }
    // Flawed on-demand and spot GPU prices, per GPU name.
    let mut top: BTreeMap<&str, f64> = BTreeMap::new();
    let mut spots: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for b in &blocks {
        if let Some(p) = b.price {
            let t = top.entry(&b.accelerator).or_insert(p);
            *t = t.max(p);
        }
        if let Some(s) = b.spot {
            spots.entry(&b.accelerator).or_default().push(s);
        }
    }
    let spot_median: BTreeMap<&str, f64> = spots
        .into_iter()
        .filter_map(|(k, v)| Some((k, median(v)?)))
        .collect();
    let low = |b: &Row| match (b.price, top.get(b.accelerator.as_str())) {
        (Some(p), Some(&t)) => p < LOW_SHARE * t,
        _ => false,
    };
    for b in &blocks {
        let gpus = b.count.unwrap_or(0.0);
        let what = format!("{}x{}", gpus, b.accelerator);
        let Some(host_type) = host_of(&b.accelerator).filter(|_| gpus == 8.0) else {
            fx.drop_row("gcp", &what, &b.zone, "no 8-GPU machine type is known for this GPU block, so no instance price can be formed");
            continue;
        };
        let host = match host_zone.get(&(host_type, b.zone.as_str())) {
            Some(h) => *h,
            None => match host_region.get(&(host_type, b.region.as_str())) {
                Some(h) => {
                    fx.fix_row(
                        "gcp",
                        &format!("{host_type} host VM"),
                        &b.zone,
                        &format!("no host-VM row for this zone; the row of zone {} of the same region is used (host-VM prices are uniform within a region in this data)", h.zone),
                    );
                    *h
                }
                None => {
                    fx.drop_row(
                        "gcp",
                        &format!("{} {host_type}", b.accelerator),
                        &b.zone,
                        "no host-VM row anywhere in the region, so the full instance price cannot be formed",
                    );
                    continue;
                }
            },
        };
        let mut accel_price = b.price;
        if let (true, Some(p)) = (low(b), b.price) {
            let t = top[b.accelerator.as_str()];
            // The same pricing tier: regions whose host VM costs exactly the same.
            let peers: Vec<&&Row> = blocks
                .iter()
                .filter(|o| o.accelerator == b.accelerator && !low(o) && o.price.is_some())
                .filter(|o| {
                    host_zone
                        .get(&(host_type, o.zone.as_str()))
                        .or_else(|| host_region.get(&(host_type, o.region.as_str())))
                        .is_some_and(|h| h.price == host.price)
                })
                .collect();
            let mut regions: Vec<&str> = peers.iter().map(|o| o.region.as_str()).collect();
            regions.dedup();
            match median(peers.iter().filter_map(|o| o.price).collect()) {
                Some(true_price) => {
                    fx.fix_row(
                        "gcp",
                        &format!("{} {host_type} on-demand", b.accelerator),
                        &b.zone,
                        &format!(
                            "GPU price {p} $/h for 8 is {:.0}% of the highest zone price {t} (GCP's regional uplifts stay within ~30%: the ~3x-low artefact of the prices README); repriced to {true_price}, the GPU price of the same pricing tier (regions whose {host_type} host VM costs the same {} $/h: {})",
                            100.0 * p / t,
                            host.price.unwrap_or(0.0),
                            regions.join(", ")
                        ),
                    );
                    accel_price = Some(true_price);
                }
                None => {
                    fx.drop_row(
                        "gcp",
                        &format!("{} {host_type} on-demand", b.accelerator),
                        &b.zone,
                        &format!(
                            "GPU price {p} $/h for 8 is {:.0}% of the highest zone price {t} (the ~3x-low artefact); no region of the same pricing tier (host VM at {} $/h) has a valid price to reprice it with",
                            100.0 * p / t,
                            host.price.unwrap_or(0.0)
                        ),
                    );
                    accel_price = None;
                }
            }
        }
        let mut accel_spot = b.spot;
        if let (Some(s), Some(&m)) = (b.spot, spot_median.get(b.accelerator.as_str())) {
            if s > HIGH_SPOT * m {
                fx.drop_row(
                    "gcp",
                    &format!("{} spot", b.accelerator),
                    &b.zone,
                    &format!("GPU spot price {s} $/h for 8 is {:.1}x the median spot price {m} of the same GPU across zones: not a usable spot price", s / m),
                );
                accel_spot = None;
            }
        }
        out.push(Priced {
            file: b.file,
            line: b.line,
            instance: host_type.to_string(),
            accelerator: b.accelerator.clone(),
            count: 8.0,
            price: accel_price.zip(host.price).map(|(a, h)| a + h),
            spot: accel_spot.zip(host.spot).map(|(a, h)| a + h),
            region: b.region.clone(),
            zone: b.zone.clone(),
        });
    }
    out
}
