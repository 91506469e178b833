//! The broker's config file (`broker.toml`): clusters, tenants, the admin token, and policy.
//!
//! Read with the fleet parser's schema-driven [`reader`](skyfleet_model::parse::reader), so a
//! malformed file gets every problem at once, each with file, line, column and field path, and
//! unknown fields get a "did you mean". Sites and accelerators are resolved against the built-in
//! catalog, so a cluster carries the same [`Site`] and [`Accelerator`] figures `skyfleet plan`
//! uses. The format is documented in `docs/broker.md`.

use skyfleet_model::parse::reader::{Reader, NON_NEG, POSITIVE};
use skyfleet_model::parse::span::{At, Ctx, Loc};
use skyfleet_model::parse::{fmt_diagnostics, suggest};
use skyfleet_model::{Accelerator, Diagnostic, LatencyGroup, OfferKind, Policy, ProviderId, Site};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use toml::de::DeValue;

/// A validated broker config.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub policy: BrokerPolicy,
    /// sha256 (lowercase hex) of the admin bearer token.
    pub admin_token_sha256: String,
    /// By tenant name.
    pub tenants: BTreeMap<String, Tenant>,
    /// In file order; names are unique.
    pub clusters: Vec<ClusterConfig>,
}

/// How the broker places work and watches clusters.
#[derive(Debug, Clone)]
pub struct BrokerPolicy {
    /// The fleet model's policy: provider share cap, carbon and water prices, allowed latency
    /// groups. The placement scorer uses its `allows` and `footprint_usd`.
    pub model: Policy,
    /// How often the reconciler polls executors and health-checks clusters.
    pub poll_interval: Duration,
    /// One health check taking longer than this counts as a failure.
    pub health_timeout: Duration,
    /// A cluster failing every health check for this long is marked down and its jobs move.
    pub down_after: Duration,
    /// `SKYFLEET_CHECKPOINT_DIR` for a job is `<checkpoint_root>/<job id>`.
    pub checkpoint_root: PathBuf,
    /// Jobs the reconciler works on at once in a pass (submitting, polling): executor calls
    /// overlap, and their transitions reach the store together, in one batch.
    pub reconcile_concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    /// sha256 (lowercase hex) of the tenant's bearer token.
    pub token_sha256: String,
    /// GPUs the tenant may hold at once (placed, submitted or running).
    pub gpu_quota: u32,
}

/// One cluster: capacity of one accelerator at one site, a price model, and an executor.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub name: String,
    pub provider: ProviderId,
    pub site: Site,
    pub accelerator: Accelerator,
    /// Total GPUs.
    pub gpus: u32,
    /// GPUs per node; a job's per-node count must fit in one node.
    pub gpus_per_node: u32,
    /// Contract (already paid, take-or-pay), on-demand or spot.
    pub pricing: OfferKind,
    /// Price per GPU-hour. For a contract, what the committed hour costs whether used or not.
    pub usd_per_gpu_hour: f64,
    pub executor: ExecutorConfig,
}

impl ClusterConfig {
    /// What one more GPU-hour here costs the lab: nothing for a take-or-pay contract (it is paid
    /// anyway), the price otherwise.
    pub fn marginal_usd_per_gpu_hour(&self) -> f64 {
        if self.pricing == OfferKind::Contract {
            0.0
        } else {
            self.usd_per_gpu_hour
        }
    }
}

/// Which backend runs a cluster's jobs, with its settings: skyfleet-exec's own type, so the
/// `executor` table is exactly what that crate documents (docs/executors.md).
pub use skyfleet_exec::ExecutorConfig;

/// Every problem found in a broker config, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_diagnostics(&self.0, f)
    }
}

/// sha256 of `token`, as lowercase hex: how tokens are stored in the config.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parse and validate a broker config. `file` names the file in messages.
pub fn parse_config(src: &str, file: &str) -> Result<BrokerConfig, ConfigErrors> {
    let ctx = Ctx::new(src, file);
    let Some(doc) = ctx.parse_toml() else {
        return Err(ConfigErrors(ctx.into_diagnostics()));
    };
    let root = Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
    let policy = root.table("policy", false).map(|t| {
        let p = read_policy(&t);
        t.finish();
        p
    });
    let admin = root.table("admin", true).and_then(|t| {
        let h = sha_field(&t, "token_sha256");
        t.finish();
        h
    });
    let mut tenants = BTreeMap::new();
    // token hash -> the tenant that has it: a token must name one caller.
    let mut by_hash: BTreeMap<String, String> = BTreeMap::new();
    for t in root.tables("tenant", "an array of tables [[tenant]]") {
        if let Some(tenant) = read_tenant(&t) {
            if tenants.contains_key(&tenant.name) {
                ctx.error(
                    &t.loc_or_table("name"),
                    format!("tenant `{}` is declared twice", tenant.name),
                );
            }
            if admin.as_deref() == Some(tenant.token_sha256.as_str()) {
                ctx.error(
                    &t.loc_or_table("token_sha256"),
                    "the same token hash as the admin's: each token must name one caller",
                );
            } else if let Some(other) = by_hash.get(&tenant.token_sha256) {
                ctx.error(
                    &t.loc_or_table("token_sha256"),
                    format!(
                        "the same token hash as tenant `{other}`'s: each token must name one caller"
                    ),
                );
            } else {
                by_hash.insert(tenant.token_sha256.clone(), tenant.name.clone());
            }
            tenants.insert(tenant.name.clone(), tenant);
        }
        t.finish();
    }
    let mut clusters: Vec<ClusterConfig> = Vec::new();
    let tables = root.tables("cluster", "an array of tables [[cluster]]");
    if tables.is_empty() && !root.raw_present("cluster") {
        ctx.error(
            &Loc {
                path: "cluster".into(),
                ..ctx.loc(0..0, "")
            },
            "no [[cluster]]: the broker needs at least one cluster to run jobs on",
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in tables {
        if let Some(name) = t.str("name", false) {
            if !seen.insert(name.v.clone()) {
                ctx.error(&name.at, format!("cluster `{}` is declared twice", name.v));
            }
        }
        if let Some(c) = read_cluster(&t) {
            clusters.push(c);
        }
        t.finish();
    }
    root.finish();
    let (Some(admin), true) = (admin, ctx.error_count() == 0) else {
        return Err(ConfigErrors(ctx.into_diagnostics()));
    };
    Ok(BrokerConfig {
        policy: policy.unwrap_or_else(default_policy),
        admin_token_sha256: admin,
        tenants,
        clusters,
    })
}

fn default_policy() -> BrokerPolicy {
    BrokerPolicy {
        model: Policy::default(),
        poll_interval: Duration::from_secs(2),
        health_timeout: Duration::from_secs(5),
        down_after: Duration::from_secs(30),
        checkpoint_root: std::env::temp_dir().join("skyfleet-checkpoints"),
        reconcile_concurrency: 32,
    }
}

fn secs(t: &Reader<'_, '_>, key: &'static str, default: Duration) -> Duration {
    t.f64(key, false, POSITIVE)
        .map_or(default, |x| Duration::from_secs_f64(x.v))
}

fn read_policy(t: &Reader<'_, '_>) -> BrokerPolicy {
    let d = default_policy();
    let mut model = Policy::default();
    if let Some(s) = t.f64("max_provider_share", false, POSITIVE) {
        if s.v > 1.0 {
            t.ctx
                .error(&s.at, format!("expected a share in (0, 1], found {}", s.v));
        }
        model.max_provider_share = Some(s.v);
    }
    if let Some(x) = t.f64("usd_per_tonne_co2e", false, NON_NEG) {
        model.usd_per_tonne_co2e = x.v;
    }
    if let Some(x) = t.f64("usd_per_m3_water", false, NON_NEG) {
        model.usd_per_m3_water = x.v;
    }
    for g in t.str_list("allowed_groups", false).unwrap_or_default() {
        match LatencyGroup::parse(&g.v) {
            Some(lg) => model.allowed_groups.push(lg),
            None => t.ctx.error(
                &g.at,
                format!("unknown latency group `{}`; expected us, eu or apac", g.v),
            ),
        }
    }
    BrokerPolicy {
        model,
        poll_interval: secs(t, "poll_interval_secs", d.poll_interval),
        health_timeout: secs(t, "health_timeout_secs", d.health_timeout),
        down_after: secs(t, "down_after_secs", d.down_after),
        checkpoint_root: t
            .str("checkpoint_root", false)
            .map_or(d.checkpoint_root, |s| PathBuf::from(s.v)),
        reconcile_concurrency: t
            .int("reconcile_concurrency", false, 1, 4096)
            .map_or(d.reconcile_concurrency, |n| n.v as usize),
    }
}

/// A sha256 hex field: 64 hex digits.
fn sha_field(t: &Reader<'_, '_>, key: &'static str) -> Option<String> {
    let s = t.str(key, true)?;
    let ok = s.v.len() == 64 && s.v.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        t.ctx.error(
            &s.at,
            "expected the sha256 of the token as 64 hex digits \
             (printf %s TOKEN | sha256sum); tokens are never stored in clear",
        );
        return None;
    }
    Some(s.v.to_ascii_lowercase())
}

fn name_field(t: &Reader<'_, '_>) -> Option<At<String>> {
    let n = t.str("name", true)?;
    let ok = !n.v.is_empty()
        && n.v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        t.ctx.error(
            &n.at,
            format!(
                "expected a name of letters, digits, '-', '_' or '.', found `{}`",
                n.v
            ),
        );
        return None;
    }
    Some(n)
}

fn read_tenant(t: &Reader<'_, '_>) -> Option<Tenant> {
    let name = name_field(t);
    let hash = sha_field(t, "token_sha256");
    let quota = t.int("gpu_quota", true, 0, u32::MAX as i64);
    Some(Tenant {
        name: name?.v,
        token_sha256: hash?,
        gpu_quota: quota?.v as u32,
    })
}

fn read_cluster(t: &Reader<'_, '_>) -> Option<ClusterConfig> {
    let cat = skyfleet_catalog::builtin();
    let name = name_field(t);
    let site = t.str("site", true).and_then(|s| {
        let id = skyfleet_model::SiteId::new(s.v.clone());
        let found = cat.catalog.sites.get(&id).cloned();
        if found.is_none() {
            let hint = suggest::hint(&s.v, cat.catalog.sites.keys().map(|k| k.as_str()));
            t.ctx.error(
                &s.at,
                format!("unknown site `{}`{hint}; sites are the catalog's, such as aws/us-east-1 (skyfleet catalog)", s.v),
            );
        }
        found
    });
    let provider = t.str("provider", false);
    if let (Some(p), Some(site)) = (&provider, &site) {
        if p.v != site.provider.as_str() {
            t.ctx.error(
                &p.at,
                format!(
                    "provider `{}` does not match site `{}` (provider `{}`)",
                    p.v, site.id, site.provider
                ),
            );
        }
    }
    let acc = t.str("accelerator", true).and_then(|a| {
        let found = cat
            .resolve_accelerator(&a.v)
            .map(|id| cat.catalog.accelerators[id].clone());
        if found.is_none() {
            let hint = suggest::hint(&a.v, cat.catalog.accelerators.keys().map(|k| k.as_str()));
            t.ctx
                .error(&a.at, format!("unknown accelerator `{}`{hint}", a.v));
        }
        found
    });
    let gpus = t.int("gpus", true, 1, u32::MAX as i64);
    let per_node = t.int("gpus_per_node", false, 1, 1024);
    if let (Some(g), Some(p)) = (&gpus, &per_node) {
        if g.v % p.v != 0 {
            t.ctx.error(
                &p.at,
                format!(
                    "gpus ({}) must be a whole number of nodes of gpus_per_node ({})",
                    g.v, p.v
                ),
            );
        }
    }
    let pricing = t.str("pricing", true).and_then(|p| {
        let kind = match p.v.as_str() {
            "contract" => Some(OfferKind::Contract),
            "on_demand" => Some(OfferKind::OnDemand),
            "spot" => Some(OfferKind::Spot),
            _ => None,
        };
        if kind.is_none() {
            let hint = suggest::hint(&p.v, ["contract", "on_demand", "spot"]);
            t.ctx.error(
                &p.at,
                format!(
                    "unknown pricing `{}`{hint}; expected contract, on_demand or spot",
                    p.v
                ),
            );
        }
        kind
    });
    let price = t.f64("usd_per_gpu_hour", true, NON_NEG);
    let executor = read_executor(t);
    let site = site?;
    let gpus = gpus?.v as u32;
    Some(ClusterConfig {
        name: name?.v,
        provider: site.provider.clone(),
        site,
        accelerator: acc?,
        gpus,
        gpus_per_node: per_node.map_or(gpus.min(8), |p| p.v as u32),
        pricing: pricing?,
        usd_per_gpu_hour: price?.v,
        executor: executor?,
    })
}

fn read_executor(t: &Reader<'_, '_>) -> Option<ExecutorConfig> {
    let (v, at) = t.raw(
        "executor",
        Some("a table such as { kind = \"local\", state_dir = \"...\", gpus = 8 }"),
    )?;
    let cfg = match serde_json::from_value::<ExecutorConfig>(to_json(v.get_ref())) {
        Ok(c) => c,
        Err(e) => {
            let hint = match v.get_ref() {
                DeValue::Table(tb) => tb
                    .get("kind")
                    .and_then(|k| k.get_ref().as_str())
                    .filter(|k| !skyfleet_exec::KINDS.contains(k))
                    .map(|k| suggest::hint(k, skyfleet_exec::KINDS.iter().copied()))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            t.ctx.error(
                &at,
                format!("{e}{hint} (the executor table is described in docs/executors.md)"),
            );
            return None;
        }
    };
    if let ExecutorConfig::Ray(r) = &cfg {
        let host = r
            .url
            .trim_start_matches("http://")
            .split([':', '/'])
            .next()
            .unwrap_or("");
        if host != "localhost" && !host.starts_with("127.") {
            t.ctx.error(
                &at,
                format!(
                    "expected a loopback Ray URL such as http://127.0.0.1:8265, found `{}`",
                    r.url
                ),
            );
            return None;
        }
    }
    Some(cfg)
}

/// A TOML value as JSON, to hand a table to another crate's serde types.
fn to_json(v: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => {
            i64::from_str_radix(i.as_str(), i.radix()).map_or(J::Null, |x| J::Number(x.into()))
        }
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(a) => J::Array(a.iter().map(|x| to_json(x.get_ref())).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, x)| (k.get_ref().to_string(), to_json(x.get_ref())))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[policy]
max_provider_share = 0.7
poll_interval_secs = 0.5
down_after_secs = 10

[admin]
token_sha256 = "8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918"

[[tenant]]
name = "research"
token_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
gpu_quota = 16

[[cluster]]
name = "aws-contract"
site = "aws/us-east-1"
accelerator = "H100"
gpus = 16
gpus_per_node = 8
pricing = "contract"
usd_per_gpu_hour = 2.0
executor = { kind = "local", state_dir = "/tmp/x", gpus = 16, dry_run = true }
"#;

    #[test]
    fn a_good_config_parses() {
        let c = parse_config(GOOD, "b.toml").expect("valid");
        assert_eq!(c.clusters.len(), 1);
        assert_eq!(c.clusters[0].provider.as_str(), "aws");
        assert_eq!(c.clusters[0].marginal_usd_per_gpu_hour(), 0.0);
        assert_eq!(c.policy.model.max_provider_share, Some(0.7));
        assert_eq!(c.policy.down_after, Duration::from_secs(10));
        assert_eq!(c.tenants["research"].gpu_quota, 16);
        assert_eq!(token_hash("admin"), c.admin_token_sha256);
        assert_eq!(token_hash("password"), c.tenants["research"].token_sha256);
    }

    #[test]
    fn every_problem_is_reported_with_file_line_and_field() {
        let bad = GOOD
            .replace("gpus = 16\n", "gpus = 12\n")
            .replace("\"contract\"", "\"contrakt\"")
            .replace(
                "site = \"aws/us-east-1\"",
                "site = \"aws/us-east-9\"\nregion = 1",
            )
            .replace("gpu_quota = 16", "gpu_quota = -1")
            .replace("token_sha256 = \"8c69", "token_sha256 = \"zz69");
        let err = parse_config(&bad, "b.toml").unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            [
                "b.toml:8:16: admin.token_sha256: expected the sha256 of the token as 64 hex digits (printf %s TOKEN | sha256sum); tokens are never stored in clear",
                "b.toml:13:13: tenant[0].gpu_quota: expected a whole number >= 0, found -1",
                "b.toml:17:8: cluster[0].site: unknown site `aws/us-east-9` (did you mean `aws/us-east-1`?); sites are the catalog's, such as aws/us-east-1 (skyfleet catalog)",
                "b.toml:18:1: cluster[0].region: unknown field `region`; expected one of: accelerator, executor, gpus, gpus_per_node, name, pricing, provider, site, usd_per_gpu_hour",
                "b.toml:21:17: cluster[0].gpus_per_node: gpus (12) must be a whole number of nodes of gpus_per_node (8)",
                "b.toml:22:11: cluster[0].pricing: unknown pricing `contrakt` (did you mean `contract`?); expected contract, on_demand or spot",
            ]
        );
    }

    #[test]
    fn duplicate_names_missing_sections_and_bad_executors() {
        let src = "[[cluster]]\nname = \"a\"\nsite = \"gcp/us-east4\"\naccelerator = \"h100\"\ngpus = 8\npricing = \"spot\"\nusd_per_gpu_hour = 1\nexecutor = { kind = \"rey\" }\n\
                   [[cluster]]\nname = \"a\"\nsite = \"gcp/us-east4\"\naccelerator = \"H100\"\ngpus = 8\npricing = \"spot\"\nusd_per_gpu_hour = 1\nexecutor = { kind = \"ray\", url = \"http://10.0.0.1:8265\" }\n";
        let err = parse_config(src, "c.toml").unwrap_err();
        let msgs: Vec<String> = err
            .0
            .iter()
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect();
        assert!(
            msgs.contains(&"admin: missing required field `admin` (a table [admin])".to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(
                |m| m.starts_with("cluster[0].executor: unknown variant `rey`")
                    && m.contains("(did you mean `ray`?)")
            ),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m == "cluster[1].name: cluster `a` is declared twice"),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("cluster[1].executor: expected a loopback Ray URL")),
            "{msgs:?}"
        );
    }

    #[test]
    fn a_token_hash_shared_with_the_admin_or_another_tenant_is_rejected() {
        let admin = "8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918";
        let research = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        let src = GOOD.replace(
            "[[cluster]]",
            &format!(
                "[[tenant]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\ngpu_quota = 8\n\n\
                 [[tenant]]\nname = \"dev\"\ntoken_sha256 = \"{research}\"\ngpu_quota = 8\n\n\
                 [[cluster]]",
                admin.to_ascii_uppercase()
            ),
        );
        let err = parse_config(&src, "t.toml").unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            [
                "t.toml:17:16: tenant[1].token_sha256: the same token hash as the admin's: each token must name one caller",
                "t.toml:22:16: tenant[2].token_sha256: the same token hash as tenant `research`'s: each token must name one caller",
            ]
        );
    }

    #[test]
    fn malformed_toml_names_the_place() {
        let err = parse_config("[admin\n", "x.toml").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].to_string().starts_with("x.toml:1:"), "{}", err);
    }
}
