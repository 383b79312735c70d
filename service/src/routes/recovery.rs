//! `/recovery-codes`: ten single-use codes, shown once after enrolment.

use super::{raw_body, request, with_app, Outcome, Page, RawBody, Req};
use crate::auth::{tokens, totp};
use crate::db::{audit, recovery, sessions};
use crate::{handler, with_db, App};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

const CODES: usize = 10;

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
    let codes = tokens::recovery_codes(CODES);
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| tokens::hash_token(c)).collect();
    // None: no session. Some(false): shown before, so only the form.
    let shown = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let Some(session) = sessions::get(&tx, &id_hash).await? else {
            return Ok(None);
        };
        let first_time = sessions::take_recovery_display(&tx, &id_hash).await?;
        if first_time {
            recovery::replace(&tx, session.user_id, &hashes).await?;
            audit::record(
                &tx,
                Some(session.user_id),
                "recovery_codes_issued",
                Some(req.ip),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(first_time))
    })?;
    let Some(first_time) = shown else {
        return Ok(Page::redirect("/login").done());
    };
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
