//! The broker (work in progress).
