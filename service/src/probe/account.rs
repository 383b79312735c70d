//! `probe replace-authenticator`: a person replaces a lost phone on the
//! account page, through whatever address they are given (the lab's VIP):
//! register, sign in, prove with the password and a code, scan the new
//! secret, confirm it with a code from it; then the old authenticator's
//! code is refused and the new one signs in.

use super::flow::{self, Browser};
use anyhow::{anyhow, Result};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ReplaceArgs {
    /// Base URL every request goes to, e.g. the proxies' VIP.
    #[arg(long)]
    pub base_url: String,
}

/// The value of `name="…" value="…"` in a page, for the proof token.
fn proof_of(html: &str) -> Option<String> {
    crate::client::hidden(html, "proof").filter(|p| !p.is_empty())
}

pub async fn replace(args: ReplaceArgs) -> Result<i32> {
    let http = flow::client(Duration::from_millis(500), Duration::from_secs(40))?;
    let mut b = Browser::new(&http, &args.base_url, None, Duration::from_secs(60));
    b.retry_throttled = true;
    let email = format!("replace-{}@example.test", flow::run_id());
    let started = Instant::now();
    let fail = |what: &str, f: flow::Failure| anyhow!("{what}: {f}");
    let mut account = flow::register(&mut b, &email)
        .await
        .map_err(|f| fail("registering", f))?;
    let step = usable_step(&account).await;
    flow::login(&mut b, &mut account, step)
        .await
        .map_err(|f| fail("signing in", f))?;

    // The proof: the password and the old phone's next code.
    let (csrf, _) = b
        .form("/account/authenticator")
        .await
        .map_err(|f| fail("the proof form", f))?;
    let step = usable_step(&account).await;
    account.last_step = step;
    let old_code = flow::totp(&account.secret, step);
    let page = b
        .send(
            Some(&[
                ("csrf_token", csrf.as_str()),
                ("password", account.password.as_str()),
                ("code", old_code.as_str()),
            ]),
            "/account/authenticator",
        )
        .await
        .map_err(|f| fail("proving", f))?;
    let (Some(proof), Some(csrf), Some(new_secret)) = (
        proof_of(&page.body),
        crate::client::hidden(&page.body, "csrf_token"),
        page.element_text("totp-secret"),
    ) else {
        return Err(anyhow!(
            "the proof was refused ({}), or the page lacks the new secret",
            page.status
        ));
    };
    let new_secret = decode(&new_secret)?;
    let new_step = flow::step_now();
    let confirm = flow::totp(&new_secret, new_step);
    b.submit(
        "/account/authenticator",
        &[("csrf_token", &csrf), ("proof", &proof), ("code", &confirm)],
        "/account?done=authenticator",
    )
    .await
    .map_err(|f| fail("confirming the new authenticator", f))?;
    let replaced_ms = started.elapsed().as_millis() as u64;

    // The old phone no longer signs in; the new one does.
    let mut old = Browser::new(&http, &args.base_url, None, Duration::from_secs(60));
    old.retry_throttled = true;
    flow::password_step(&mut old, &account)
        .await
        .map_err(|f| fail("password step", f))?;
    let old_answer = flow::code_step(&mut old, &flow::totp(&account.secret, flow::step_now()))
        .await
        .map_err(|f| fail("old code", f))?;
    let old_refused = old_answer.status == 401;
    let mut new_account = account.clone();
    new_account.secret = new_secret;
    new_account.last_step = new_step;
    let mut fresh = Browser::new(&http, &args.base_url, None, Duration::from_secs(60));
    fresh.retry_throttled = true;
    let step = usable_step(&new_account).await;
    let new_signs_in = flow::login(&mut fresh, &mut new_account, step)
        .await
        .is_ok();
    let ok = old_refused && new_signs_in;
    println!(
        "{}",
        json!({
            "ok": ok,
            "old_refused": old_refused,
            "new_signs_in": new_signs_in,
            "replace_ms": replaced_ms,
        })
    );
    Ok(if ok { 0 } else { 1 })
}

/// The next step whose code is unused, waiting for the clock if both the
/// current and the next one are spent (a code is accepted once).
async fn usable_step(a: &flow::Account) -> u64 {
    loop {
        if let Some(step) = flow::usable_step(a) {
            return step;
        }
        let left = 30 - flow::now_unix() % 30;
        tokio::time::sleep(Duration::from_millis(left * 1000 + 50)).await;
    }
}

fn decode(grouped: &str) -> Result<Vec<u8>> {
    crate::auth::totp::base32_decode(&grouped.replace(' ', ""))
        .ok_or_else(|| anyhow!("the new secret is not base32: {grouped}"))
}
