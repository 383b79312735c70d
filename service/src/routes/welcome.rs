//! `/` (where to go), `/welcome` (the congratulation) and `/logout`.

use super::{raw_body, request, with_app, Outcome, Page, RawBody, Req};
use crate::auth::tokens;
use crate::db::{sessions, DbError};
use crate::{handler, with_db, App};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

pub fn routes(
    app: App,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let root = warp::path::end()
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(request(app.clone()))
        .and_then(|app: App, req: Req| async move { handler!(app, req, home(&app, &req)) });
    let welcome = warp::path!("welcome")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(request(app.clone()))
        .and_then(|app: App, req: Req| async move { handler!(app, req, welcome(&app, &req)) });
    let logout = warp::path!("logout")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(request(app))
        .and(raw_body())
        .and_then(|app: App, req: Req, body: RawBody| async move {
            handler!(app, req, logout(&app, &req, body))
        });
    root.or(welcome).unify().or(logout).unify()
}

impl App {
    /// The signed-in session of this browser, if any.
    pub async fn session(&self, req: &Req) -> Result<Option<sessions::Session>, DbError> {
        let Some(cookie) = req.cookie(&self.cookies.session) else {
            return Ok(None);
        };
        let id_hash = tokens::hash_token(cookie);
        with_db!(self.db, |c| Ok(sessions::get(&*c, &id_hash).await?))
    }
}

async fn home(app: &App, req: &Req) -> Outcome {
    let to = if app.session(req).await?.is_some() {
        "/welcome"
    } else {
        "/login"
    };
    Ok(app.remember_lang(req, Page::redirect(to)).done())
}

async fn welcome(app: &App, req: &Req) -> Outcome {
    let Some(session) = app.session(req).await? else {
        return Ok(Page::redirect("/login").done());
    };
    let mut ctx = tera::Context::new();
    ctx.insert("email", &session.email);
    let warning = (session.abandoned_logins > 0).then(|| {
        app.pages.text(
            req.lang,
            "welcome_abandoned",
            &[("count", &session.abandoned_logins.to_string())],
        )
    });
    ctx.insert("abandoned_warning", &warning);
    app.page(req, StatusCode::OK, "welcome.html", ctx)
}

async fn logout(app: &App, req: &Req, body: RawBody) -> Outcome {
    if let Err(refused) = app.read_form(req, body).await {
        return Ok(refused);
    }
    if let Some(cookie) = req.cookie(&app.cookies.session) {
        let id_hash = tokens::hash_token(cookie);
        with_db!(app.db, |c| Ok(sessions::delete(&*c, &id_hash).await?))?;
        tracing::info!("signed out");
    }
    // Clear-Site-Data also empties the back-forward cache: without it the
    // back button shows the signed-in page as it was (no session behind it,
    // but the e-mail is on screen). It clears every cookie of the site, so
    // the language falls back to Accept-Language.
    Ok(Page::redirect("/login")
        .header("clear-site-data", "\"cache\", \"cookies\"")
        .cookie(app.cookies.clear(&app.cookies.session))
        .cookie(app.cookies.clear(&app.cookies.login))
        .done())
}
