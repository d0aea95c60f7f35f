//! The seeded discrete-event simulator.
