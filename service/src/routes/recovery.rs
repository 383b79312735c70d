//! `/recovery-codes`: ten single-use codes, shown once after enrolment.

use super::{raw_body, request, with_app, Outcome, Page, RawBody, Req};
use crate::auth::{tokens, totp};
use crate::db::{audit, recovery, sessions};
use crate::{handler, with_db, App};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

pub const CODES: usize = 10;

pub fn routes(
    app: App,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let get = warp::path!("recovery-codes")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(request(app.clone()))
        .and_then(|app: App, req: Req| async move { handler!(app, req, show(&app, &req)) });
    let post = warp::path!("recovery-codes")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(request(app))
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, acknowledge(&app, &req, body))
        });
    get.or(post).unify()
}

async fn show(app: &App, req: &Req) -> Outcome {
    let Some(cookie) = req.cookie(&app.cookies.session) else {
        return Ok(Page::redirect("/login").done());
    };
    let id_hash = tokens::hash_token(cookie);
    let fresh = tokens::recovery_codes(CODES);
    let hashes: Vec<Vec<u8>> = fresh.iter().map(|c| tokens::hash_token(c)).collect();
    // None: no session. Some(None): shown before, so only the form.
    let shown = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let Some(session) = sessions::get(&tx, &id_hash).await? else {
            return Ok(None);
        };
        let first_time = sessions::take_recovery_display(&tx, &id_hash).await?;
        let stashed = sessions::take_recovery_codes(&tx, &id_hash).await?;
        // Made at enrolment (see enroll.rs) and sealed with the session.
        let opened = stashed
            .and_then(|(sealed, key_id)| app.secrets.open(session.user_id, &sealed, &key_id).ok())
            .map(|plain| {
                String::from_utf8_lossy(&plain)
                    .split('\n')
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            });
        let codes = match (first_time, opened) {
            (false, _) => None,
            (true, Some(codes)) => Some(codes),
            // A session opened by an older version, before codes were made
            // at enrolment: make them now, as it did.
            (true, None) => {
                recovery::replace(&tx, session.user_id, &hashes).await?;
                audit::record(
                    &tx,
                    Some(session.user_id),
                    "recovery_codes_issued",
                    Some(req.ip),
                )
                .await?;
                Some(fresh.clone())
            }
        };
        tx.commit().await?;
        Ok(Some(codes))
    })?;
    let Some(codes) = shown else {
        return Ok(Page::redirect("/login").done());
    };
    let first_time = codes.is_some();
    let codes = codes.unwrap_or_default();
    let mut ctx = tera::Context::new();
    let grouped: Vec<String> = if first_time {
        codes.iter().map(|c| totp::grouped(c)).collect()
    } else {
        Vec::new()
    };
    ctx.insert("codes", &grouped);
    app.page(req, StatusCode::OK, "recovery_codes.html", ctx)
}

async fn acknowledge(app: &App, req: &Req, body: RawBody) -> Outcome {
    if let Err(refused) = app.read_form(req, body).await {
        return Ok(refused);
    }
    match app.session(req).await? {
        Some(_) => Ok(Page::redirect("/welcome").done()),
        None => Ok(Page::redirect("/login").done()),
    }
}
