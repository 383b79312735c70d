//! `/account`: what a signed-in person can do about their own account.
//!
//! Sensitive actions (new password, new authenticator, new recovery codes,
//! deleting the account) take two posts to the same route. The first carries
//! the current password and a current code (or a recovery code), checked
//! with the login's throttles; it stores a proof (a random token, kept as
//! its hash, bound to this session and this action, good for 5 minutes) and
//! answers with the action's own form, the token in a hidden field. The
//! second post carries the token and the action's fields, and uses the
//! proof up in the transaction that does the action.

use super::login::{ip_key, password_key};
use super::{raw_body, request, with_app, Form, Outcome, Page, RawBody, Req};
use crate::auth::password::{check_new_password, normalize_password, Weakness};
use crate::auth::{tokens, totp};
use crate::db::{account, audit, throttle, users, DbError};
use crate::metrics::METRICS;
use crate::{handler, with_db, App};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Rejection};
use zeroize::Zeroizing;

/// How long a proof stays usable.
pub const PROOF_TTL_S: i64 = 300;

/// The four actions that need a proof, by the path they are posted to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Password,
    Authenticator,
    RecoveryCodes,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Password => "password",
            Action::Authenticator => "authenticator",
            Action::RecoveryCodes => "recovery-codes",
            Action::Delete => "delete",
        }
    }
}

pub fn routes(
    app: App,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let base = with_app(app.clone()).and(request(app));
    let overview = warp::path!("account")
        .and(warp::get())
        .and(base.clone())
        .and(
            warp::query::<HashMap<String, String>>()
                .or(warp::any().map(HashMap::new))
                .unify(),
        )
        .and_then(
            |app: App, req: Req, q: HashMap<String, String>| async move {
                handler!(
                    app,
                    req,
                    show(&app, &req, q.get("done").map(String::as_str))
                )
            },
        );
    let authenticator_get = warp::path!("account" / "authenticator")
        .and(warp::get())
        .and(base.clone())
        .and_then(|app: App, req: Req| async move {
            handler!(app, req, prove_page(&app, &req, Action::Authenticator))
        });
    let action = |path: &'static str, action: Action| {
        warp::path("account")
            .and(warp::path(path))
            .and(warp::path::end())
            .and(warp::post())
            .and(base.clone())
            .and(raw_body())
            .and_then(move |app: App, req: Req, body: RawBody| async move {
                handler!(app, req, sensitive(&app, &req, body, action))
            })
    };
    let revoke = warp::path!("account" / "sessions" / "revoke")
        .and(warp::post())
        .and(base.clone())
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, revoke(&app, &req, body))
        });
    overview
        .or(authenticator_get)
        .unify()
        .or(action("password", Action::Password))
        .unify()
        .or(action("authenticator", Action::Authenticator))
        .unify()
        .or(action("recovery-codes", Action::RecoveryCodes))
        .unify()
        .or(action("delete", Action::Delete))
        .unify()
        .or(revoke)
        .unify()
}

/// The signed-in session of this request (marked as seen now), with the
/// hash of its cookie.
async fn signed_in(
    app: &App,
    req: &Req,
) -> Result<Option<(account::AccountSession, Vec<u8>)>, DbError> {
    let Some(cookie) = req.cookie(&app.cookies.session) else {
        return Ok(None);
    };
    let id_hash = tokens::hash_token(cookie);
    let found = with_db!(app.db, |c| Ok(account::touch_session(
        &*c, &id_hash, req.ip
    )
    .await?))?;
    Ok(found.map(|s| (s, id_hash)))
}

fn to_login() -> Outcome {
    Ok(Page::redirect("/login").done())
}

async fn show(app: &App, req: &Req, done: Option<&str>) -> Outcome {
    let Some((session, hash)) = signed_in(app, req).await? else {
        return to_login();
    };
    let notice = done
        .filter(|d| {
            [
                "password",
                "authenticator",
                "recovery-codes",
                "sessions",
                "session",
            ]
            .contains(d)
        })
        .map(|d| app.pages.text(req.lang, &format!("account_done_{d}"), &[]));
    overview_page(app, req, &session, &hash, StatusCode::OK, notice, None).await
}

async fn overview_page(
    app: &App,
    req: &Req,
    session: &account::AccountSession,
    session_hash: &[u8],
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Outcome {
    let overview = with_db!(app.db, |c| Ok(account::overview(
        &*c,
        session.user_id,
        session_hash
    )
    .await?))?;
    let texts = app.pages.texts(req.lang);
    let events: Vec<serde_json::Value> = overview
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "at": e.at,
                "address": e.address,
                "event": e.event,
                "label": texts.get(&format!("event_{}", e.event)).unwrap_or(&e.event),
            })
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("email", &session.email);
    ctx.insert("enrolled_at", &overview.enrolled_at);
    ctx.insert("codes_left", &overview.recovery_codes_left);
    ctx.insert("sessions", &overview.sessions);
    ctx.insert("events", &events);
    ctx.insert("recovery_sign_in", &overview.recovery_sign_in);
    ctx.insert("notice", &notice);
    ctx.insert("error", &error);
    app.page(req, status, "account.html", ctx)
}

/// The form asking for the password and a code before `action`.
async fn prove_page(app: &App, req: &Req, action: Action) -> Outcome {
    if signed_in(app, req).await?.is_none() {
        return to_login();
    }
    prove_form(app, req, action, StatusCode::OK, None).await
}

async fn prove_form(
    app: &App,
    req: &Req,
    action: Action,
    status: StatusCode,
    error: Option<String>,
) -> Outcome {
    let mut ctx = tera::Context::new();
    ctx.insert("action", action.name());
    ctx.insert("error", &error);
    app.page(req, status, "account_prove.html", ctx)
}

/// The second step's form of `action`, carrying the proof token.
async fn step_form(
    app: &App,
    req: &Req,
    action: Action,
    proof: &str,
    status: StatusCode,
    error: Option<String>,
    qr: Option<(&str, String)>,
) -> Outcome {
    let mut ctx = tera::Context::new();
    ctx.insert("action", action.name());
    ctx.insert("proof", proof);
    ctx.insert("error", &error);
    if let Some((email, b32)) = qr {
        let uri = totp::otpauth_uri(email, &b32);
        ctx.insert(
            "qr_svg",
            &crate::qr::svg(&uri, &app.pages.text(req.lang, "enroll_qr_label", &[]))?,
        );
        ctx.insert("otpauth_uri", &uri);
        ctx.insert("secret_grouped", &totp::grouped(&b32));
    }
    app.page(req, status, "account_step.html", ctx)
}

fn text(app: &App, req: &Req, key: &str) -> Option<String> {
    Some(app.pages.text(req.lang, key, &[]))
}

async fn sensitive(app: &App, req: &Req, body: RawBody, action: Action) -> Outcome {
    let form = match app.read_form(req, body).await {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let Some((session, session_hash)) = signed_in(app, req).await? else {
        return to_login();
    };
    let proof = form.get("proof");
    if proof.is_empty() {
        return prove(app, req, &form, action, &session, &session_hash).await;
    }
    let proof_hash = tokens::hash_token(proof);
    let live = with_db!(app.db, |c| Ok(account::get_proof(
        &*c,
        &proof_hash,
        &session_hash,
        action.name(),
        false
    )
    .await?))?;
    let Some(live) = live else {
        return expired(app, req, action).await;
    };
    match action {
        Action::Password => change_password(app, req, &form, &session, &session_hash, proof).await,
        Action::Authenticator => {
            replace_authenticator(app, req, &form, &session, &session_hash, proof, live).await
        }
        Action::RecoveryCodes => new_recovery_codes(app, req, &session, &session_hash, proof).await,
        Action::Delete => delete(app, req, &form, &session, &session_hash, proof).await,
    }
}

/// A proof that is missing, used, expired, or another session's: prove again.
async fn expired(app: &App, req: &Req, action: Action) -> Outcome {
    prove_form(
        app,
        req,
        action,
        StatusCode::FORBIDDEN,
        text(app, req, "account_proof_expired"),
    )
    .await
}

/// What the typed second factor is.
enum Factor {
    Totp(String),
    RecoveryCode(Vec<u8>),
}

fn parse_factor(input: &str) -> Option<Factor> {
    if let Some(code) = totp::parse_code(input) {
        return Some(Factor::Totp(code.to_string()));
    }
    tokens::normalize_recovery_code(input).map(|c| Factor::RecoveryCode(tokens::hash_token(&c)))
}

enum CodeVerdict {
    Proved,
    Wrong,
    Throttled(i64),
    Locked,
    Gone,
}

/// First step: the password and a code, with the login's throttles; on
/// success a proof and the action's form.
async fn prove(
    app: &App,
    req: &Req,
    form: &Form,
    action: Action,
    session: &account::AccountSession,
    session_hash: &[u8],
) -> Outcome {
    let password = Zeroizing::new(form.get("password").to_string());
    let factor = parse_factor(form.get("code"));
    let Some(factor) = factor.filter(|_| !password.is_empty()) else {
        let key = if password.is_empty() {
            "account_password_missing"
        } else {
            "account_code_format"
        };
        return prove_form(
            app,
            req,
            action,
            StatusCode::BAD_REQUEST,
            text(app, req, key),
        )
        .await;
    };
    // As at login, a post the hashing pool would shed now is refused before
    // it takes a throttle slot or makes a database round trip: nothing is
    // claimed, so nothing needs giving back.
    if let Some(retry_after_s) = app.hashing.pool().would_shed() {
        METRICS.hash_shed.inc();
        return Err(super::AppError::Busy { retry_after_s });
    }
    let ip_key = ip_key(req);
    let cap = app.settings.ip_failed_logins_per_minute as i32;
    let device_cookie = req.cookie(&app.cookies.device);
    // As at login: the attempt takes its slots (this source's failed
    // attempts per minute, and one under the account's delay — this
    // browser's own once it signed in) before the password is hashed,
    // counted as failures now and given back on success, so attempts sent
    // at once cannot outrun either limit.
    let (refused, account_key, user) = with_db!(app.db, |c| {
        if let Some(wait) = throttle::claim_in_window(&*c, &ip_key, cap).await? {
            return Ok((Some(wait), None, None));
        }
        let account_key = device_cookie
            .and_then(|cookie| app.device.throttle_key(cookie, session.user_id))
            .unwrap_or_else(|| password_key(&session.email));
        if let Some(wait) = throttle::claim_attempt(&*c, &account_key).await? {
            throttle::refund_in_window(&*c, &ip_key).await?;
            return Ok((Some(wait), None, None));
        }
        let user = users::by_id(&*c, session.user_id).await?;
        Ok((None, Some(account_key), user))
    })?;
    let throttled = |seconds: i64| async move {
        METRICS.throttled.inc();
        let msg = app.pages.text(
            req.lang,
            "login_throttled",
            &[("seconds", &seconds.to_string())],
        );
        let resp = prove_form(app, req, action, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
        Ok(Page::from(resp).retry_after(seconds).done())
    };
    if let Some(seconds) = refused {
        return throttled(seconds).await;
    }
    let (Some(user), Some(account_key)) = (user, account_key) else {
        return to_login();
    };
    let verified = crate::auth::password_upgrade::verify(
        app,
        password,
        Some(user.password_hash.clone()),
        Some(user.id),
    )
    .await;
    if matches!(verified, Err(super::AppError::Busy { .. })) {
        // Shed before it was judged: not a wrong password.
        super::refund_slots(app, &ip_key, Some(&account_key)).await?;
    }
    let ok = verified?;
    if !ok {
        // Already counted when the slots were taken.
        tracing::info!(ip = %req.ip, "wrong password on the account page");
        return prove_form(
            app,
            req,
            action,
            StatusCode::UNAUTHORIZED,
            text(app, req, "account_bad_password"),
        )
        .await;
    }
    // The password was right: give the slots back before the code is judged
    // (the code has throttles of its own).
    with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        throttle::clear(&tx, &account_key).await?;
        throttle::refund_in_window(&tx, &ip_key).await?;
        tx.commit().await?;
        Ok(())
    })?;
    let pw_key = password_key(&session.email);

    let token = tokens::random_token();
    let token_hash = tokens::hash_token(&token);
    // Authenticator replacement: the new secret travels in the proof.
    let new_secret = (action == Action::Authenticator).then(totp::generate_secret);
    let sealed = match &new_secret {
        Some(secret) => Some(app.secrets.seal(session.user_id, secret)?),
        None => None,
    };
    let fresh_codes = form.get("new_recovery_codes") == "on";
    let now = totp::now_unix();
    let verdict = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        if !account::lock_user(&tx, session.user_id).await? {
            return Ok(CodeVerdict::Gone);
        }
        let Some(user) = users::by_id(&tx, session.user_id).await? else {
            return Ok(CodeVerdict::Gone);
        };
        let proved = match &factor {
            Factor::Totp(_) if user.locked => return Ok(CodeVerdict::Locked),
            _ if user.totp_retry_after_s > 0 => {
                return Ok(CodeVerdict::Throttled(user.totp_retry_after_s))
            }
            Factor::Totp(code) => totp_matches(app, &tx, user.id, code, now).await?,
            Factor::RecoveryCode(hash) => account::use_recovery_code(&tx, user.id, hash).await?,
        };
        if !proved {
            let failure = users::record_code_failure(&tx, user.id).await?;
            let event = if failure.locked {
                "locked"
            } else {
                "code_failed"
            };
            audit::record(&tx, Some(user.id), event, Some(req.ip)).await?;
            tx.commit().await?;
            return Ok(if failure.locked {
                CodeVerdict::Locked
            } else {
                CodeVerdict::Wrong
            });
        }
        let unlock = matches!(factor, Factor::RecoveryCode(_));
        users::clear_code_failures(&tx, user.id, unlock).await?;
        throttle::clear(&tx, &pw_key).await?;
        account::create_proof(
            &tx,
            &token_hash,
            session_hash,
            user.id,
            action.name(),
            PROOF_TTL_S,
            sealed.as_ref().map(|(ct, key_id)| account::Replacement {
                secret_ct: ct,
                key_id,
                new_recovery_codes: fresh_codes,
            }),
        )
        .await?;
        if unlock {
            audit::record(&tx, Some(user.id), "recovery_code_used", Some(req.ip)).await?;
        }
        tx.commit().await?;
        Ok(CodeVerdict::Proved)
    })?;
    match verdict {
        CodeVerdict::Proved => {
            let qr = new_secret.map(|s| (session.email.as_str(), totp::base32(&s)));
            step_form(app, req, action, &token, StatusCode::OK, None, qr).await
        }
        CodeVerdict::Wrong => {
            METRICS.totp_failures.inc();
            prove_form(
                app,
                req,
                action,
                StatusCode::UNAUTHORIZED,
                text(app, req, "account_bad_code"),
            )
            .await
        }
        CodeVerdict::Throttled(seconds) => {
            METRICS.throttled.inc();
            let msg = app.pages.text(
                req.lang,
                "totp_throttled",
                &[("seconds", &seconds.to_string())],
            );
            let resp =
                prove_form(app, req, action, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            Ok(Page::from(resp).retry_after(seconds).done())
        }
        CodeVerdict::Locked => {
            METRICS.throttled.inc();
            let resp = prove_form(
                app,
                req,
                action,
                StatusCode::TOO_MANY_REQUESTS,
                text(app, req, "account_locked"),
            )
            .await?;
            Ok(Page::from(resp).retry_after(3600).done())
        }
        CodeVerdict::Gone => to_login(),
    }
}

/// Whether `code` is a current, unused code of one of the user's confirmed
/// authenticators; claims its step (the login's replay guard) if so.
async fn totp_matches(
    app: &App,
    c: &impl crate::db::GenericClient,
    user_id: i64,
    code: &str,
    now: u64,
) -> Result<bool, DbError> {
    for a in crate::db::authenticators::for_user(c, user_id).await? {
        if !a.confirmed {
            continue;
        }
        let Ok(secret) = app.secrets.open(user_id, &a.secret_ct, &a.key_id) else {
            tracing::error!(
                authenticator = a.id,
                "TOTP secret does not decrypt with the configured keys"
            );
            continue;
        };
        if let Some(step) = totp::matching_step(&secret, code, now) {
            return Ok(crate::db::authenticators::claim_step(c, a.id, step).await?);
        }
    }
    Ok(false)
}

async fn change_password(
    app: &App,
    req: &Req,
    form: &Form,
    session: &account::AccountSession,
    session_hash: &[u8],
    proof: &str,
) -> Outcome {
    // Hashed in NFKC form, as at registration.
    let password = normalize_password(form.get("new_password"));
    let weakness = match check_new_password(&password) {
        Some(Weakness::TooShort) => Some("register_password_short"),
        Some(Weakness::TooLong) => Some("register_password_long"),
        Some(Weakness::Common) => Some("register_password_common"),
        Some(Weakness::Trivial) => Some("register_password_trivial"),
        None if *normalize_password(form.get("new_password_confirm")) != *password => {
            Some("register_password_mismatch")
        }
        None => None,
    };
    if let Some(key) = weakness {
        let msg = text(app, req, key);
        return step_form(
            app,
            req,
            Action::Password,
            proof,
            StatusCode::BAD_REQUEST,
            msg,
            None,
        )
        .await;
    }
    let hash = app.hashing.hash(password).await?;
    let proof_hash = tokens::hash_token(proof);
    let pw_key = password_key(&session.email);
    let done = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        if !account::take_proof(&tx, &proof_hash, session_hash, "password").await? {
            return Ok(false);
        }
        users::set_password(&tx, session.user_id, &hash).await?;
        account::end_other_sessions(&tx, session.user_id, session_hash).await?;
        throttle::clear(&tx, &pw_key).await?;
        audit::record(&tx, Some(session.user_id), "password_changed", Some(req.ip)).await?;
        tx.commit().await?;
        Ok(true)
    })?;
    if !done {
        return expired(app, req, Action::Password).await;
    }
    tracing::info!("password changed on the account page");
    Ok(Page::redirect("/account?done=password").done())
}

enum Replaced {
    Done {
        fresh_codes: bool,
    },
    WrongCode,
    Throttled(i64),
    /// Another browser replaced the authenticator after this proof was made.
    Lost,
    Expired,
}

async fn replace_authenticator(
    app: &App,
    req: &Req,
    form: &Form,
    session: &account::AccountSession,
    session_hash: &[u8],
    proof: &str,
    live: account::Proof,
) -> Outcome {
    let (Some(ct), Some(key_id)) = (&live.pending_secret_ct, &live.pending_key_id) else {
        return expired(app, req, Action::Authenticator).await;
    };
    let secret = app.secrets.open(session.user_id, ct, key_id)?;
    let b32 = totp::base32(&secret);
    let again = |status: StatusCode, error: Option<String>| {
        let b32 = b32.clone();
        async move {
            step_form(
                app,
                req,
                Action::Authenticator,
                proof,
                status,
                error,
                Some((session.email.as_str(), b32)),
            )
            .await
        }
    };
    let Some(code) = totp::parse_code(form.get("code")) else {
        return again(StatusCode::BAD_REQUEST, text(app, req, "totp_format")).await;
    };
    let proof_hash = tokens::hash_token(proof);
    let now = totp::now_unix();
    let outcome = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        if !account::lock_user(&tx, session.user_id).await? {
            return Ok(Replaced::Expired);
        }
        let Some(p) =
            account::get_proof(&tx, &proof_hash, session_hash, "authenticator", true).await?
        else {
            return Ok(Replaced::Expired);
        };
        if account::confirmed_authenticators(&tx, session.user_id).await? != p.replaces {
            account::take_proof(&tx, &proof_hash, session_hash, "authenticator").await?;
            tx.commit().await?;
            return Ok(Replaced::Lost);
        }
        let Some(user) = users::by_id(&tx, session.user_id).await? else {
            return Ok(Replaced::Expired);
        };
        if user.totp_retry_after_s > 0 {
            return Ok(Replaced::Throttled(user.totp_retry_after_s));
        }
        let Some(step) = totp::matching_step(&secret, code, now) else {
            users::record_code_failure(&tx, user.id).await?;
            audit::record(&tx, Some(user.id), "code_failed", Some(req.ip)).await?;
            tx.commit().await?;
            return Ok(Replaced::WrongCode);
        };
        account::install_authenticator(&tx, user.id, ct, key_id, step).await?;
        account::take_proof(&tx, &proof_hash, session_hash, "authenticator").await?;
        users::clear_code_failures(&tx, user.id, false).await?;
        if p.new_recovery_codes {
            account::reset_recovery_codes(&tx, user.id, session_hash).await?;
        }
        audit::record(&tx, Some(user.id), "authenticator_replaced", Some(req.ip)).await?;
        tx.commit().await?;
        Ok(Replaced::Done {
            fresh_codes: p.new_recovery_codes,
        })
    })?;
    match outcome {
        Replaced::Done { fresh_codes } => {
            tracing::info!("authenticator replaced on the account page");
            Ok(Page::redirect(if fresh_codes {
                "/recovery-codes"
            } else {
                "/account?done=authenticator"
            })
            .done())
        }
        Replaced::WrongCode => {
            METRICS.totp_failures.inc();
            again(StatusCode::UNAUTHORIZED, text(app, req, "totp_bad_code")).await
        }
        Replaced::Throttled(seconds) => {
            METRICS.throttled.inc();
            let msg = app.pages.text(
                req.lang,
                "totp_throttled",
                &[("seconds", &seconds.to_string())],
            );
            let resp = again(StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            Ok(Page::from(resp).retry_after(seconds).done())
        }
        Replaced::Lost => {
            overview_page(
                app,
                req,
                session,
                session_hash,
                StatusCode::CONFLICT,
                None,
                text(app, req, "account_authenticator_race"),
            )
            .await
        }
        Replaced::Expired => expired(app, req, Action::Authenticator).await,
    }
}

async fn new_recovery_codes(
    app: &App,
    req: &Req,
    session: &account::AccountSession,
    session_hash: &[u8],
    proof: &str,
) -> Outcome {
    let proof_hash = tokens::hash_token(proof);
    let done = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        if !account::take_proof(&tx, &proof_hash, session_hash, "recovery-codes").await? {
            return Ok(false);
        }
        account::reset_recovery_codes(&tx, session.user_id, session_hash).await?;
        tx.commit().await?;
        Ok(true)
    })?;
    if !done {
        return expired(app, req, Action::RecoveryCodes).await;
    }
    // /recovery-codes makes the new set and shows it, once.
    Ok(Page::redirect("/recovery-codes").done())
}

async fn delete(
    app: &App,
    req: &Req,
    form: &Form,
    session: &account::AccountSession,
    session_hash: &[u8],
    proof: &str,
) -> Outcome {
    if form.get("confirm_email").trim() != session.email {
        return step_form(
            app,
            req,
            Action::Delete,
            proof,
            StatusCode::BAD_REQUEST,
            text(app, req, "account_delete_mismatch"),
            None,
        )
        .await;
    }
    let proof_hash = tokens::hash_token(proof);
    let pw_key = password_key(&session.email);
    let done = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        if !account::take_proof(&tx, &proof_hash, session_hash, "delete").await? {
            return Ok(false);
        }
        let gone = account::delete_account(&tx, session.user_id, &pw_key, req.ip).await?;
        tx.commit().await?;
        Ok(gone)
    })?;
    if !done {
        return expired(app, req, Action::Delete).await;
    }
    tracing::info!("account deleted by its owner");
    Ok(Page::redirect("/login")
        .header("clear-site-data", "\"cache\", \"cookies\"")
        .cookie(app.cookies.clear(&app.cookies.session))
        .cookie(app.cookies.clear(&app.cookies.login))
        .done())
}

/// Signs out every other session (`session=others`) or one of them (its
/// handle from the list). Needs no proof: it only takes access away.
async fn revoke(app: &App, req: &Req, body: RawBody) -> Outcome {
    let form = match app.read_form(req, body).await {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let Some((session, session_hash)) = signed_in(app, req).await? else {
        return to_login();
    };
    let which = form.get("session");
    let is_handle = which.len() == 16 && which.bytes().all(|b| b.is_ascii_hexdigit());
    if which != "others" && !is_handle {
        return overview_page(
            app,
            req,
            &session,
            &session_hash,
            StatusCode::BAD_REQUEST,
            None,
            text(app, req, "account_revoke_bad"),
        )
        .await;
    }
    let which = which.to_ascii_lowercase();
    with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let ended = if which == "others" {
            account::end_other_sessions(&tx, session.user_id, &session_hash).await?
        } else {
            u64::from(account::end_session(&tx, session.user_id, &which, &session_hash).await?)
        };
        if ended > 0 {
            audit::record(&tx, Some(session.user_id), "sessions_revoked", Some(req.ip)).await?;
        }
        tx.commit().await?;
        Ok(())
    })?;
    Ok(Page::redirect(if which == "others" {
        "/account?done=sessions"
    } else {
        "/account?done=session"
    })
    .done())
}
