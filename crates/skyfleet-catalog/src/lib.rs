//! The built-in catalog.
