//! `GET/POST /register`: a new account, then on to enrolment.

use super::{raw_body, request, with_app, Outcome, Page, RawBody, Req};
use crate::auth::password::{check_new_password, normalize_password, Weakness};
use crate::auth::{normalize_email, tokens};
use crate::db::{audit, challenges, throttle, users};
use crate::metrics::METRICS;
use crate::{handler, with_db, App};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

pub fn routes(
    app: App,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let get = warp::path!("register")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(request(app.clone()))
        .and_then(|app: App, req: Req| async move {
            handler!(
                app,
                req,
                show(&app, &req, StatusCode::OK, "", HashMap::new())
            )
        });
    let post = warp::path!("register")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(request(app))
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, submit(&app, &req, body))
        });
    get.or(post).unify()
}

async fn show(
    app: &App,
    req: &Req,
    status: StatusCode,
    email: &str,
    errors: HashMap<&str, String>,
) -> Outcome {
    let mut ctx = tera::Context::new();
    ctx.insert("email", email);
    ctx.insert("errors", &errors);
    ctx.insert("closed", &!app.settings.allow_signup);
    let status = if app.settings.allow_signup {
        status
    } else {
        StatusCode::FORBIDDEN
    };
    app.page(req, status, "register.html", ctx)
}

async fn submit(app: &App, req: &Req, body: RawBody) -> Outcome {
    let form = match app.read_form(req, body).await {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    if !app.settings.allow_signup {
        return show(app, req, StatusCode::FORBIDDEN, "", HashMap::new()).await;
    }
    let raw_email = form.get("email");
    let password = normalize_password(form.get("password"));
    let text = |key: &str| app.pages.text(req.lang, key, &[]);
    let mut errors = HashMap::new();
    let email = normalize_email(raw_email);
    if email.is_none() {
        errors.insert("email", text("register_email_invalid"));
    }
    match check_new_password(&password) {
        Some(Weakness::TooShort) => errors.insert("password", text("register_password_short")),
        Some(Weakness::TooLong) => errors.insert("password", text("register_password_long")),
        Some(Weakness::Common) => errors.insert("password", text("register_password_common")),
        Some(Weakness::Trivial) => errors.insert("password", text("register_password_trivial")),
        None => None,
    };
    if *normalize_password(form.get("password_confirm")) != *password {
        errors.insert("password_confirm", text("register_password_mismatch"));
    }
    // Echo the e-mail back only when it is short enough to be one.
    let shown_email = if raw_email.len() <= crate::auth::MAX_EMAIL_LEN {
        raw_email
    } else {
        ""
    };
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return show(app, req, StatusCode::BAD_REQUEST, shown_email, errors).await;
    };

    // Each attempt that would cost a hash takes one of this source's
    // failed registrations per minute first, atomically; a registration that
    // creates its account gives it back (like a successful login), so only
    // refused ones (a taken address: what an enumeration would probe) count.
    let reg_key = format!("reg:{}", super::source_key(req.ip));
    let cap = app.settings.ip_registrations_per_minute as i32;
    let wait = with_db!(app.db, |c| Ok(throttle::claim_in_window(
        &*c, &reg_key, cap
    )
    .await?))?;
    if let Some(seconds) = wait {
        METRICS.throttled.inc();
        errors.insert(
            "email",
            app.pages.text(
                req.lang,
                "login_throttled",
                &[("seconds", &seconds.to_string())],
            ),
        );
        let resp = show(app, req, StatusCode::TOO_MANY_REQUESTS, shown_email, errors).await?;
        return Ok(Page::from(resp).retry_after(seconds).done());
    }

    let hash = app.hashing.hash(password).await?;
    let challenge = tokens::random_token();
    let challenge_hash = tokens::hash_token(&challenge);
    let ttl = app.settings.login_challenge_ttl_s as i64;
    let created = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let Some(user_id) = users::insert(&tx, &email, &hash).await? else {
            return Ok(None);
        };
        challenges::create(
            &tx,
            &challenge_hash,
            user_id,
            challenges::Stage::Enroll,
            ttl,
            req.ip,
        )
        .await?;
        audit::record(&tx, Some(user_id), "registered", Some(req.ip)).await?;
        throttle::refund_in_window(&tx, &reg_key).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    })?;
    if created.is_none() {
        errors.insert("email", text("register_email_taken"));
        return show(app, req, StatusCode::BAD_REQUEST, shown_email, errors).await;
    }
    METRICS.registrations.inc();
    tracing::info!("account registered");
    Ok(Page::redirect("/enroll")
        .cookie(app.cookies.set(&app.cookies.login, &challenge, ttl as u64))
        .cookie(app.cookies.clear(&app.cookies.session))
        .done())
}
