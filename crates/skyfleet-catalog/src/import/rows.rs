//! Reading SkyPilot-format price files (`vms.csv`) into rows, by column name.

use super::{ImportProblem, PriceFile};

/// One priced row of a price file: an instance type (or, for GCP, a host VM or a GPU block) in
/// one zone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// Index of the file in the import's list.
    pub file: usize,
    /// 1-based line in the file.
    pub line: usize,
    pub instance: String,
    /// SkyPilot's accelerator name; empty for a CPU-only or host-VM row.
    pub accelerator: String,
    /// GPUs per instance, as the file has it.
    pub count: Option<f64>,
    pub price: Option<f64>,
    pub spot: Option<f64>,
    pub region: String,
    /// The availability zone; the region where the file has no zones.
    pub zone: String,
}

const REQUIRED: [&str; 6] = [
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "Price",
    "SpotPrice",
    "Region",
];

/// Every row of `f`, or every problem in it (a missing column, a number that does not parse).
pub(crate) fn read(index: usize, f: &PriceFile, out: &mut Vec<ImportProblem>) -> Vec<Row> {
    let problem = |line: usize, message: String| ImportProblem {
        file: f.name.to_string(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(f.text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_string()).collect(),
        Err(e) => {
            out.push(problem(1, format!("cannot read the header: {e}")));
            return Vec::new();
        }
    };
    let col = |name: &str| header.iter().position(|c| c == name);
    let missing: Vec<&str> = REQUIRED.into_iter().filter(|c| col(c).is_none()).collect();
    if !missing.is_empty() {
        out.push(problem(
            1,
            format!(
                "not a SkyPilot-format price file: no column {} (columns: {})",
                missing.join(", "),
                header.join(", ")
            ),
        ));
        return Vec::new();
    }
    let at = |name: &str| col(name).expect("checked above");
    let (inst, acc, cnt, price, spot, region) = (
        at("InstanceType"),
        at("AcceleratorName"),
        at("AcceleratorCount"),
        at("Price"),
        at("SpotPrice"),
        at("Region"),
    );
    let zone = col("AvailabilityZone");
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.push(problem(line, e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let mut num = |i: usize, name: &str| -> Option<f64> {
            let s = field(i);
            if s.is_empty() {
                return None;
            }
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    out.push(problem(line, format!("{name}: {s:?} is not a number")));
                    None
                }
            }
        };
        let row = Row {
            file: index,
            line,
            instance: field(inst),
            accelerator: field(acc),
            count: num(cnt, "AcceleratorCount"),
            price: num(price, "Price"),
            spot: num(spot, "SpotPrice"),
            region: field(region),
            zone: zone
                .map(field)
                .filter(|z| !z.is_empty())
                .unwrap_or(field(region)),
        };
        rows.push(row);
    }
    rows
}
