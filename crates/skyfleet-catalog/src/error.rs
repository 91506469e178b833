//! What can be wrong with catalog data. Every problem names its file, entry and field.

use std::fmt;

/// One problem in the catalog data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `sites.toml`, `accelerators.toml`, `offers.toml`, or the path of a catalog file.
    pub file: String,
    /// The 1-based line of the entry's table header, when known.
    pub line: Option<usize>,
    /// The entry: a site id, an accelerator id, an offer id, or `fix #n`.
    pub entry: String,
    /// The field path inside the entry, such as `sources.pue`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.entry)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The catalog could not be loaded. Holds every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{} problem(s) in the catalog data:\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
}

impl CatalogError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            CatalogError::Invalid(p) => p,
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
