//! Newtype ids. Each is a short string that appears in fleet files and output.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }
    };
}

id!(
    /// A cloud provider: `aws`, `azure`, `gcp`, `nebius`, ...
    ProviderId);
id!(
    /// A site, written `provider/region`, such as `aws/us-east-1`.
    SiteId);
id!(
    /// An accelerator kind, such as `H100` or `MI300X`.
    AcceleratorId);
id!(
    /// An offer of capacity: a contract id, or `site:accelerator:kind` for a catalog offer.
    OfferId);
id!(
    /// A workload: a training job, an inference service or a batch job.
    WorkloadId);
