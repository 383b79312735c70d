//! twofa: a fault-tolerant web login with TOTP two-factor authentication.

pub mod probe;
