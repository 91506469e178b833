//! Integration tests of skyfleet-sim: one binary, one module per part.

mod it {
    pub mod engine;
    pub mod faults;
    pub mod philly;
    pub mod scale;
    pub mod sim;
    pub mod trace;
}
