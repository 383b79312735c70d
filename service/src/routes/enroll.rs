//! `GET/POST /enroll`: the QR code of a new TOTP secret, confirmed by a
//! first code; then the recovery codes.

use super::{raw_body, request, with_app, Outcome, Page, RawBody, Req};
use crate::auth::{tokens, totp};
use crate::db::{audit, authenticators, challenges, recovery, sessions, users, GenericClient};
use crate::{handler, with_db, App};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

pub fn routes(
    app: App,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let get = warp::path!("enroll")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(request(app.clone()))
        .and_then(|app: App, req: Req| async move { handler!(app, req, show(&app, &req)) });
    let post = warp::path!("enroll")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(request(app))
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, submit(&app, &req, body))
        });
    get.or(post).unify()
}

/// The user enrolling, from the pending-login cookie, with their pending
/// authenticator (created on the first visit, the same one afterwards).
struct Enrolment {
    user_id: i64,
    email: String,
    authenticator: authenticators::Authenticator,
}

enum State {
    Enrolling(Enrolment),
    /// Already has an authenticator: the code step.
    HasAuthenticator,
    NoLogin,
}

async fn enrolment(app: &App, req: &Req) -> Result<State, crate::db::DbError> {
    let Some(cookie) = req.cookie(&app.cookies.login) else {
        return Ok(State::NoLogin);
    };
    let id_hash = tokens::hash_token(cookie);
    with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let state = match challenges::get(&tx, &id_hash).await? {
            None => State::NoLogin,
            Some(ch) if ch.stage == challenges::Stage::Totp => State::HasAuthenticator,
            Some(ch) => match users::by_id(&tx, ch.user_id).await? {
                None => State::NoLogin,
                // Enrolling is for an account with no authenticator yet;
                // replacing one is another, authenticated action.
                Some(user) if authenticators::has_confirmed(&tx, user.id).await? => {
                    challenges::finish(&tx, &id_hash).await?;
                    State::NoLogin
                }
                Some(user) => State::Enrolling(Enrolment {
                    authenticator: pending(app, &tx, user.id).await?,
                    user_id: user.id,
                    email: user.email,
                }),
            },
        };
        tx.commit().await?;
        Ok(state)
    })
}

async fn pending(
    app: &App,
    c: &impl GenericClient,
    user_id: i64,
) -> Result<authenticators::Authenticator, crate::db::DbError> {
    let secret = totp::generate_secret();
    let (ct, key_id) = app
        .secrets
        .seal(user_id, &secret)
        .expect("AES-GCM sealing 20 bytes cannot fail");
    Ok(authenticators::insert_pending(c, user_id, "phone", &ct, &key_id).await?)
}

async fn show(app: &App, req: &Req) -> Outcome {
    render(app, req, StatusCode::OK, None).await
}

async fn render(app: &App, req: &Req, status: StatusCode, error: Option<String>) -> Outcome {
    let enrolment = match enrolment(app, req).await? {
        State::Enrolling(e) => e,
        State::HasAuthenticator => return Ok(Page::redirect("/login/totp").done()),
        State::NoLogin => return Ok(Page::redirect("/login").done()),
    };
    let secret = app.secrets.open(
        enrolment.user_id,
        &enrolment.authenticator.secret_ct,
        &enrolment.authenticator.key_id,
    )?;
    let b32 = totp::base32(&secret);
    let uri = totp::otpauth_uri(&enrolment.email, &b32);
    let mut ctx = tera::Context::new();
    ctx.insert(
        "qr_svg",
        &crate::qr::svg(&uri, &app.pages.text(req.lang, "enroll_qr_label", &[]))?,
    );
    ctx.insert("otpauth_uri", &uri);
    ctx.insert("secret_grouped", &totp::grouped(&b32));
    ctx.insert("error", &error);
    app.page(req, status, "enroll.html", ctx)
}

enum Confirmation {
    Confirmed { session: String, user_id: i64 },
    WrongCode,
    Throttled(i64),
    Locked,
    NoLogin,
}

async fn submit(app: &App, req: &Req, body: RawBody) -> Outcome {
    let form = match app.read_form(req, body).await {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let Some(code) = totp::parse_code(form.get("code")) else {
        let msg = app.pages.text(req.lang, "totp_format", &[]);
        return render(app, req, StatusCode::BAD_REQUEST, Some(msg)).await;
    };
    let Some(cookie) = req.cookie(&app.cookies.login) else {
        return Ok(Page::redirect("/login").done());
    };
    let id_hash = tokens::hash_token(cookie);
    let now = totp::now_unix();
    let session = tokens::random_token();
    let session_hash = tokens::hash_token(&session);
    let session_ttl = app.settings.session_ttl_s as i64;
    let outcome = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let Some(ch) = challenges::get(&tx, &id_hash).await? else {
            return Ok(Confirmation::NoLogin);
        };
        if ch.stage != challenges::Stage::Enroll {
            return Ok(Confirmation::NoLogin);
        }
        let Some(user) = users::by_id(&tx, ch.user_id).await? else {
            return Ok(Confirmation::NoLogin);
        };
        // Take this attempt's slot first: the row lock it holds until the
        // commit also serialises two confirmations of the same account.
        match users::claim_code_attempt(&tx, user.id, false).await? {
            Ok(_) => {}
            Err(users::CodeRefusal::Locked) => return Ok(Confirmation::Locked),
            Err(users::CodeRefusal::Throttled(s)) => return Ok(Confirmation::Throttled(s)),
        }
        if authenticators::has_confirmed(&tx, user.id).await? {
            // Another enrolment of this account finished first.
            challenges::finish(&tx, &id_hash).await?;
            users::clear_code_failures(&tx, user.id, false).await?;
            tx.commit().await?;
            return Ok(Confirmation::NoLogin);
        }
        let pending = authenticators::for_user(&tx, user.id)
            .await?
            .into_iter()
            .find(|a| !a.confirmed);
        let step = pending.as_ref().and_then(|a| {
            let secret = app.secrets.open(user.id, &a.secret_ct, &a.key_id).ok()?;
            totp::matching_step(&secret, code, now).map(|s| (a.id, s))
        });
        let confirmed = match step {
            Some((id, step)) => authenticators::claim_step(&tx, id, step).await?,
            None => false,
        };
        if !confirmed {
            // Counted when the slot was taken.
            audit::record(&tx, Some(user.id), "enrol_code_failed", Some(req.ip)).await?;
            tx.commit().await?;
            return Ok(Confirmation::WrongCode);
        }
        challenges::finish(&tx, &id_hash).await?;
        // Every other pending enrolment of this account ends here: whoever
        // else opened /enroll cannot add an authenticator afterwards.
        challenges::end_enrolments(&tx, user.id).await?;
        authenticators::delete_pending(&tx, user.id).await?;
        users::clear_code_failures(&tx, user.id, false).await?;
        users::mark_login(&tx, user.id).await?;
        sessions::create(&tx, &session_hash, user.id, session_ttl, true, 0).await?;
        // The recovery codes are made now, with the authenticator they back
        // up, and wait sealed in the session until their page shows them.
        let codes = tokens::recovery_codes(super::recovery::CODES);
        let hashes: Vec<Vec<u8>> = codes.iter().map(|c| tokens::hash_token(c)).collect();
        recovery::replace(&tx, user.id, &hashes).await?;
        let (sealed, key_id) = app
            .secrets
            .seal(user.id, codes.join("\n").as_bytes())
            .expect("AES-GCM sealing cannot fail");
        sessions::stash_recovery_codes(&tx, &session_hash, &sealed, &key_id).await?;
        audit::record(&tx, Some(user.id), "recovery_codes_issued", Some(req.ip)).await?;
        audit::record(&tx, Some(user.id), "authenticator_enrolled", Some(req.ip)).await?;
        tx.commit().await?;
        Ok(Confirmation::Confirmed {
            session: session.clone(),
            user_id: user.id,
        })
    })?;
    match outcome {
        Confirmation::Confirmed { session, user_id } => {
            tracing::info!("authenticator enrolled");
            Ok(app
                .signed_in(
                    Page::redirect("/recovery-codes"),
                    &session,
                    session_ttl as u64,
                    user_id,
                )
                .done())
        }
        Confirmation::Locked => {
            crate::metrics::METRICS.throttled.inc();
            let msg = app.pages.text(req.lang, "totp_locked", &[]);
            let resp = render(app, req, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            Ok(Page::from(resp).retry_after(3600).done())
        }
        Confirmation::WrongCode => {
            crate::metrics::METRICS.totp_failures.inc();
            let msg = app.pages.text(req.lang, "totp_bad_code", &[]);
            render(app, req, StatusCode::UNAUTHORIZED, Some(msg)).await
        }
        Confirmation::Throttled(seconds) => {
            crate::metrics::METRICS.throttled.inc();
            let msg = app.pages.text(
                req.lang,
                "totp_throttled",
                &[("seconds", &seconds.to_string())],
            );
            let resp = render(app, req, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            Ok(Page::from(resp).retry_after(seconds).done())
        }
        Confirmation::NoLogin => Ok(Page::redirect("/login").done()),
    }
}
