//! The fleet model: what a lab holds, what it can rent, what it must run, and the rules.
//!
//! This crate is the vocabulary every other skyfleet crate speaks. It parses and validates
//! fleet files from a string (the caller reads the file), and never touches the file system,
//! the network or a clock.

pub mod fleet;
pub mod ids;
pub mod parse;
pub mod time;
pub mod units;

pub use fleet::*;
pub use ids::*;
pub use parse::{parse_fleet, parse_fleet_with_places, Diagnostic, FleetErrors, OfferPlace};
pub use time::{Date, Horizon, YearMonth};
pub use units::*;
