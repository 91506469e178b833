//! Typed quantities. Public APIs pass these, never bare `f64`s.
//!
//! All are `f64` underneath: GPU-hours over a horizon reach 1e10 and costs 1e11, far inside
//! `f64`'s exact-integer range, and the LP solver works in floating point anyway. What the
//! types buy is that a cost can never be added to an energy by mistake.

use serde::{Deserialize, Serialize};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

macro_rules! unit {
    ($(#[$doc:meta])* $name:ident, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            pub const ZERO: Self = Self(0.0);
            /// The raw number, in this unit.
            pub fn get(self) -> f64 {
                self.0
            }
        }
        impl Add for $name {
            type Output = Self;
            fn add(self, o: Self) -> Self {
                Self(self.0 + o.0)
            }
        }
        impl Sub for $name {
            type Output = Self;
            fn sub(self, o: Self) -> Self {
                Self(self.0 - o.0)
            }
        }
        impl AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                self.0 += o.0;
            }
        }
        impl Mul<f64> for $name {
            type Output = Self;
            fn mul(self, k: f64) -> Self {
                Self(self.0 * k)
            }
        }
        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(it: I) -> Self {
                Self(it.map(|x| x.0).sum())
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} {}", self.0, $suffix)
            }
        }
    };
}

unit!(
    /// US dollars.
    Usd, "USD");
unit!(
    /// GPU-hours of some accelerator (one GPU busy for one hour).
    GpuHours, "GPU-h");
unit!(
    /// Kilowatt-hours of facility energy (IT power × PUE).
    Kwh, "kWh");
unit!(
    /// Litres of water (on-site plus the grid's).
    Litres, "L");
unit!(
    /// Kilograms of CO2-equivalent.
    KgCo2e, "kgCO2e");
