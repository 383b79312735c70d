//! `/login` (e-mail and password), `/login/totp` (the code) and
//! `/login/recovery` (a recovery code instead of the code).

use super::{raw_body, request, with_app, Outcome, Page, RawBody, Req};
use crate::auth::{normalize_email, tokens, totp};
use crate::db::{
    audit, authenticators, challenges, logins, sessions, throttle, users, DbError, GenericClient,
};
use crate::metrics::{Outcome as LoginOutcome, METRICS};
use crate::{handler, with_db, App};
use sha2::{Digest, Sha256};
use warp::http::StatusCode;
use warp::{Filter, Rejection};
use zeroize::Zeroizing;

pub fn routes(
    app: App,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let base = with_app(app.clone()).and(request(app));
    let login_get = warp::path!("login")
        .and(warp::get())
        .and(base.clone())
        .and_then(|app: App, req: Req| async move {
            handler!(
                app,
                req,
                password_form(&app, &req, StatusCode::OK, "", None)
            )
        });
    let login_post = warp::path!("login")
        .and(warp::post())
        .and(base.clone())
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, password_submit(&app, &req, body))
        });
    let totp_get = warp::path!("login" / "totp")
        .and(warp::get())
        .and(base.clone())
        .and_then(|app: App, req: Req| async move {
            handler!(app, req, second_factor_form(&app, &req, "login_totp.html"))
        });
    let totp_post = warp::path!("login" / "totp")
        .and(warp::post())
        .and(base.clone())
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, totp_submit(&app, &req, body))
        });
    let recovery_get = warp::path!("login" / "recovery")
        .and(warp::get())
        .and(base.clone())
        .and_then(|app: App, req: Req| async move {
            handler!(
                app,
                req,
                second_factor_form(&app, &req, "login_recovery.html")
            )
        });
    let recovery_post = warp::path!("login" / "recovery")
        .and(warp::post())
        .and(base)
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, recovery_submit(&app, &req, body))
        });
    login_get
        .or(login_post)
        .unify()
        .or(totp_get)
        .unify()
        .or(totp_post)
        .unify()
        .or(recovery_get)
        .unify()
        .or(recovery_post)
        .unify()
}

async fn password_form(
    app: &App,
    req: &Req,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Outcome {
    let mut ctx = tera::Context::new();
    ctx.insert("email", email);
    ctx.insert("error", &error);
    app.page(req, status, "login.html", ctx)
}

/// The throttle key for wrong passwords on one account name, known or not,
/// so that throttling does not reveal which accounts exist.
pub(super) fn password_key(email: &str) -> String {
    let folded = crate::auth::fold_email(email);
    format!("pw:{}", hex::encode(Sha256::digest(folded.as_bytes())))
}

pub(super) fn ip_key(req: &Req) -> String {
    format!("ip:{}", super::source_key(req.ip))
}

async fn password_submit(app: &App, req: &Req, body: RawBody) -> Outcome {
    let form = match app.read_form(req, body).await {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let raw_email = form.get("email");
    let shown_email = if raw_email.len() <= crate::auth::MAX_EMAIL_LEN {
        raw_email
    } else {
        ""
    };
    let email = normalize_email(raw_email);
    let password = Zeroizing::new(form.get("password").to_string());
    let ip_key = ip_key(req);
    let cap = app.settings.ip_failed_logins_per_minute as i32;
    let old_session = req.cookie(&app.cookies.session).map(tokens::hash_token);
    let device_cookie = req.cookie(&app.cookies.device);

    // A post that the hashing pool would shed now is refused before any
    // database round trip: under overload the cheap refusal must stay
    // cheap, and nothing is claimed or counted for it. (`verify` below
    // still sheds one that the pool refuses after all.)
    if email.is_some() {
        if let Some(retry_after_s) = app.hashing.pool().would_shed() {
            METRICS.hash_shed.inc();
            return Err(super::AppError::Busy { retry_after_s });
        }
    }

    // Each attempt takes its slots before the password is hashed: one of
    // this source's failed logins per minute, and one attempt under the
    // account's delay (this browser's own, if it signed in to the account
    // before). Both are counted as failures now and given back on success,
    // so attempts sent at once can never outrun either limit.
    let (refused, account_key, user) = with_db!(app.db, |c| {
        if let Some(wait) = throttle::claim_in_window(&*c, &ip_key, cap).await? {
            return Ok((Some(wait), None, None));
        }
        let user = match &email {
            Some(e) => users::by_email(&*c, e).await?,
            None => None,
        };
        let device_key = match (&user, device_cookie) {
            (Some(u), Some(cookie)) => app.device.throttle_key(cookie, u.id),
            _ => None,
        };
        let account_key = device_key.or_else(|| email.as_deref().map(password_key));
        if let Some(key) = &account_key {
            if let Some(wait) = throttle::claim_attempt(&*c, key).await? {
                throttle::refund_in_window(&*c, &ip_key).await?;
                return Ok((Some(wait), None, None));
            }
        }
        Ok((None, account_key, user))
    })?;
    if let Some(seconds) = refused {
        METRICS.throttled.inc();
        METRICS.login(LoginOutcome::Throttled);
        let msg = app.pages.text(
            req.lang,
            "login_throttled",
            &[("seconds", &seconds.to_string())],
        );
        let resp = password_form(
            app,
            req,
            StatusCode::TOO_MANY_REQUESTS,
            shown_email,
            Some(msg),
        )
        .await?;
        return Ok(Page::from(resp).retry_after(seconds).done());
    }

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = match &email {
        Some(_) => {
            let verified = crate::auth::password_upgrade::verify(
                app,
                password,
                stored,
                user.as_ref().map(|u| u.id),
            )
            .await;
            if matches!(verified, Err(super::AppError::Busy { .. })) {
                // Shed before it was judged: not a wrong password.
                super::refund_slots(app, &ip_key, account_key.as_deref()).await?;
            }
            verified?
        }
        // Not an address at all: nothing to look up, nothing to hash.
        None => false,
    };
    let user = user.filter(|_| ok);
    let Some(user) = user else {
        // Already counted when the slots were taken.
        METRICS.login(LoginOutcome::BadPassword);
        tracing::info!(ip = %req.ip, "wrong e-mail or password");
        let msg = app.pages.text(req.lang, "login_bad_credentials", &[]);
        return password_form(app, req, StatusCode::UNAUTHORIZED, shown_email, Some(msg)).await;
    };

    let challenge = tokens::random_token();
    let challenge_hash = tokens::hash_token(&challenge);
    let ttl = app.settings.login_challenge_ttl_s as i64;
    let enrolled = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        if let Some(key) = &account_key {
            throttle::clear(&tx, key).await?;
        }
        throttle::refund_in_window(&tx, &ip_key).await?;
        // A new login ends the session this browser had, on the server too.
        if let Some(old) = &old_session {
            sessions::delete(&tx, old).await?;
        }
        let enrolled = authenticators::has_confirmed(&tx, user.id).await?;
        let stage = if enrolled {
            challenges::Stage::Totp
        } else {
            challenges::Stage::Enroll
        };
        challenges::create(&tx, &challenge_hash, user.id, stage, ttl, req.ip).await?;
        audit::record(&tx, Some(user.id), "password_accepted", Some(req.ip)).await?;
        tx.commit().await?;
        Ok(enrolled)
    })?;
    Ok(
        Page::redirect(if enrolled { "/login/totp" } else { "/enroll" })
            .cookie(app.cookies.set(&app.cookies.login, &challenge, ttl as u64))
            .cookie(app.cookies.clear(&app.cookies.session))
            .done(),
    )
}

/// The live totp-stage challenge of this browser, if any.
async fn pending_login(
    app: &App,
    req: &Req,
) -> Result<Option<(Vec<u8>, challenges::Challenge)>, DbError> {
    let Some(cookie) = req.cookie(&app.cookies.login) else {
        return Ok(None);
    };
    let id_hash = tokens::hash_token(cookie);
    let found = with_db!(app.db, |c| Ok(challenges::get(&*c, &id_hash).await?))?;
    Ok(found.map(|ch| (id_hash, ch)))
}

async fn second_factor_form(app: &App, req: &Req, template: &str) -> Outcome {
    match pending_login(app, req).await? {
        None => Ok(Page::redirect("/login").done()),
        Some((_, ch)) if ch.stage == challenges::Stage::Enroll => {
            Ok(Page::redirect("/enroll").done())
        }
        Some(_) => code_page(app, req, template, StatusCode::OK, None).await,
    }
}

async fn code_page(
    app: &App,
    req: &Req,
    template: &str,
    status: StatusCode,
    error: Option<String>,
) -> Outcome {
    let mut ctx = tera::Context::new();
    ctx.insert("error", &error);
    app.page(req, status, template, ctx)
}

/// How a second-factor attempt ended.
enum Verdict {
    SignedIn { session: String, user_id: i64 },
    Wrong,
    Throttled(i64),
    Locked,
    NoLogin,
}

/// Proves the factor and opens the session in one statement. The attempt
/// was counted as a wrong code before the check (`claim_code_attempt`); a
/// right code clears that count, a wrong one leaves it (and the lock the
/// 100th sets).
async fn finish_or_count(
    c: &impl GenericClient,
    app: &App,
    req: &Req,
    login: &logins::PendingLogin,
    challenge_hash: &[u8],
    proof: Option<logins::Proof<'_>>,
    event: &str,
) -> Result<Verdict, DbError> {
    if let Some(proof) = proof {
        let session = tokens::random_token();
        let done = logins::finish(
            c,
            challenge_hash,
            login.user_id,
            proof,
            &tokens::hash_token(&session),
            app.settings.session_ttl_s as i64,
            event,
            req.ip,
        )
        .await?;
        if done.proved {
            return Ok(if done.signed_in {
                Verdict::SignedIn {
                    session,
                    user_id: login.user_id,
                }
            } else {
                Verdict::NoLogin
            });
        }
    }
    let locked = users::is_locked(c, login.user_id).await?;
    audit::record(
        c,
        Some(login.user_id),
        if locked { "locked" } else { "code_failed" },
        Some(req.ip),
    )
    .await?;
    Ok(if locked {
        Verdict::Locked
    } else {
        Verdict::Wrong
    })
}

/// The two ways through the second step, and what differs between them.
#[derive(Clone, Copy)]
enum Factor {
    Totp,
    RecoveryCode,
}

impl Factor {
    fn template(self) -> &'static str {
        match self {
            Factor::Totp => "login_totp.html",
            Factor::RecoveryCode => "login_recovery.html",
        }
    }
}

async fn totp_submit(app: &App, req: &Req, body: RawBody) -> Outcome {
    second_factor_submit(app, req, body, Factor::Totp).await
}

async fn recovery_submit(app: &App, req: &Req, body: RawBody) -> Outcome {
    second_factor_submit(app, req, body, Factor::RecoveryCode).await
}

async fn second_factor_submit(app: &App, req: &Req, body: RawBody, factor: Factor) -> Outcome {
    let form = match app.read_form(req, body).await {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let Some(cookie) = req.cookie(&app.cookies.login) else {
        return Ok(Page::redirect("/login").done());
    };
    let id_hash = tokens::hash_token(cookie);
    // What was typed, if it has the right shape; a malformed entry is
    // refused before it can count as a guess.
    let (code, recovery_hash) = match factor {
        Factor::Totp => (totp::parse_code(form.get("code")), None),
        Factor::RecoveryCode => (
            None,
            tokens::normalize_recovery_code(form.get("recovery_code"))
                .map(|c| tokens::hash_token(&c)),
        ),
    };
    let well_formed = code.is_some() || recovery_hash.is_some();
    // Fixed at arrival: a retry during a database failover judges the code
    // by the time it was typed.
    let now = totp::now_unix();
    let verdict = with_db!(app.db, |c| {
        let Some(login) = logins::load(&*c, &id_hash).await? else {
            return Ok(Verdict::NoLogin);
        };
        if login.enrolling {
            return Ok(Verdict::NoLogin);
        }
        // A locked account may still use a recovery code: that is the way
        // out of the lock. The delay between wrong attempts applies to both.
        if login.locked && matches!(factor, Factor::Totp) {
            return Ok(Verdict::Locked);
        }
        if login.retry_after_s > 0 {
            return Ok(Verdict::Throttled(login.retry_after_s));
        }
        if !well_formed {
            return Ok(Verdict::Wrong);
        }
        // Take this attempt's slot before the code is checked, so that
        // attempts sent at once cannot outrun the delay or the lock.
        let allow_locked = matches!(factor, Factor::RecoveryCode);
        match users::claim_code_attempt(&*c, login.user_id, allow_locked).await? {
            Ok(_) => {}
            Err(users::CodeRefusal::Locked) => return Ok(Verdict::Locked),
            Err(users::CodeRefusal::Throttled(s)) => return Ok(Verdict::Throttled(s)),
        }
        let (proof, event) = match (code, &recovery_hash) {
            (Some(code), _) => (totp_proof(app, &*c, &login, code, now).await?, "login"),
            (None, Some(hash)) => (
                Some(logins::Proof::RecoveryCode { code_hash: hash }),
                "login_recovery_code",
            ),
            (None, None) => unreachable!("well_formed checked above"),
        };
        let matched = proof.is_some();
        let verdict = finish_or_count(&*c, app, req, &login, &id_hash, proof, event).await?;
        if matched && code.is_some() && matches!(verdict, Verdict::Wrong | Verdict::Locked) {
            METRICS.totp_replays.inc();
            tracing::warn!(user = login.user_id, "replayed TOTP code refused");
        }
        Ok(verdict)
    })?;
    let (wrong_key, malformed_key, success) = match factor {
        Factor::Totp => ("totp_bad_code", "totp_format", LoginOutcome::Success),
        Factor::RecoveryCode => (
            "recovery_login_bad",
            "recovery_login_bad",
            LoginOutcome::Recovery,
        ),
    };
    if !well_formed && matches!(verdict, Verdict::Wrong) {
        let msg = app.pages.text(req.lang, malformed_key, &[]);
        return code_page(
            app,
            req,
            factor.template(),
            StatusCode::BAD_REQUEST,
            Some(msg),
        )
        .await;
    }
    verdict_page(app, req, verdict, factor.template(), wrong_key, success).await
}

/// The authenticator and step this code proves, if any; re-seals a secret
/// still under a previous key (key rotation).
async fn totp_proof(
    app: &App,
    c: &impl GenericClient,
    login: &logins::PendingLogin,
    code: &str,
    now: u64,
) -> Result<Option<logins::Proof<'static>>, DbError> {
    for (id, sealed, key_id) in &login.authenticators {
        let Ok(secret) = app.secrets.open(login.user_id, sealed, key_id) else {
            tracing::error!(
                authenticator = id,
                "TOTP secret does not decrypt with the configured keys"
            );
            continue;
        };
        if let Some(step) = totp::matching_step(&secret, code, now) {
            if key_id != app.secrets.current_key_id() {
                let (ct, new_id) = app
                    .secrets
                    .seal(login.user_id, &secret)
                    .expect("AES-GCM sealing cannot fail");
                authenticators::rewrap(c, *id, &ct, &new_id).await?;
            }
            return Ok(Some(logins::Proof::Totp {
                authenticator_id: *id,
                step,
            }));
        }
    }
    Ok(None)
}

async fn verdict_page(
    app: &App,
    req: &Req,
    verdict: Verdict,
    template: &str,
    wrong_key: &str,
    success: LoginOutcome,
) -> Outcome {
    match verdict {
        Verdict::SignedIn { session, user_id } => {
            METRICS.login(success);
            tracing::info!("login completed");
            Ok(app
                .signed_in(
                    Page::redirect("/welcome"),
                    &session,
                    app.settings.session_ttl_s,
                    user_id,
                )
                .done())
        }
        Verdict::Wrong => {
            METRICS.login(LoginOutcome::BadCode);
            METRICS.totp_failures.inc();
            let msg = app.pages.text(req.lang, wrong_key, &[]);
            code_page(app, req, template, StatusCode::UNAUTHORIZED, Some(msg)).await
        }
        Verdict::Throttled(seconds) => {
            METRICS.login(LoginOutcome::Throttled);
            METRICS.throttled.inc();
            let msg = app.pages.text(
                req.lang,
                "totp_throttled",
                &[("seconds", &seconds.to_string())],
            );
            let resp =
                code_page(app, req, template, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            Ok(Page::from(resp).retry_after(seconds).done())
        }
        Verdict::Locked => {
            METRICS.login(LoginOutcome::Locked);
            METRICS.throttled.inc();
            let msg = app.pages.text(req.lang, "totp_locked", &[]);
            let resp =
                code_page(app, req, template, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            Ok(Page::from(resp).retry_after(3600).done())
        }
        Verdict::NoLogin => Ok(Page::redirect("/login").done()),
    }
}
