//! twofa: a fault-tolerant web login with TOTP two-factor authentication.
//!
//! The binary (`main.rs`) is thin; [`startup::start`] builds the whole
//! service from [`config::Settings`], which is also how the tests run it.

pub mod admin;
pub mod auth;
/// The shared HTTP client, its own crate (`client/`, `twofa-client`) so the
/// developer commands can use it without compiling the service.
pub use twofa_client as client;
pub mod clock;
pub mod config;
pub mod db;
pub mod metrics;
pub mod pages;
pub mod probe;
pub mod qr;
pub mod routes;
pub mod startup;
pub mod telemetry;

#[cfg(test)]
mod client_pages_tests;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What every request handler shares. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<AppState>);

pub struct AppState {
    pub settings: config::Settings,
    pub db: db::Db,
    pub hashing: auth::password::PasswordHashing,
    pub secrets: auth::crypto::SecretBox,
    pub csrf: auth::tokens::Csrf,
    /// Signs the device cookies that let an owner past the account-wide delay.
    pub device: auth::device::DeviceKey,
    pub pages: pages::Pages,
    pub cookies: routes::CookieNames,
    /// Set at SIGTERM: /readyz answers 503 so the proxies stop sending.
    pub draining: AtomicBool,
}

impl std::ops::Deref for App {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl App {
    pub fn new(state: AppState) -> App {
        App(Arc::new(state))
    }
}
