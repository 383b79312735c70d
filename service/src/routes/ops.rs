//! For operators and proxies: `/healthz`, `/readyz`, `/metrics` (on its own
//! listener); and the
//! stylesheet and icon every page uses.

use super::{plain, with_app};
use crate::metrics::METRICS;
use crate::App;
use std::sync::atomic::Ordering;
use warp::http::header::HeaderValue;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

const STYLE: &str = include_str!("../../static/style.css");

pub fn routes(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| plain(StatusCode::OK, "ok\n"));
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: App| async move {
            if app.draining.load(Ordering::SeqCst) {
                plain(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
            } else if app.db.ping_for_readiness().await {
                plain(StatusCode::OK, "ready\n")
            } else {
                plain(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
            }
        });
    let style = warp::path!("static" / "style.css")
        .and(warp::get())
        .map(|| asset(STYLE.as_bytes().to_vec(), "text/css; charset=utf-8"));
    let favicon = warp::path!("favicon.ico")
        .and(warp::get())
        .map(|| asset(favicon(), "image/x-icon"));
    healthz
        .or(readyz)
        .unify()
        .or(style)
        .unify()
        .or(favicon)
        .unify()
}

/// The metrics listener (`TWOFA_METRICS_LISTEN`): `GET /metrics` and
/// nothing else, on an address operators choose, never the public one.
pub fn metrics_routes(
    app: App,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_app(app))
        .map(|app: App| {
            let mut resp = Response::new(METRICS.render(&app.db.pool_status()).into());
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        });
    metrics
        .or(warp::any().map(|| plain(StatusCode::NOT_FOUND, "not found\n")))
        .unify()
}

fn asset(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

/// A 16×16 icon (a white check mark on the accent blue), built as a
/// BMP-in-ICO so that no binary file needs shipping.
fn favicon() -> Vec<u8> {
    const N: u32 = 16;
    let check = |x: i32, y: i32| {
        // Two strokes of a check mark, in a 16×16 grid with y growing upwards.
        let short = (3..=6).contains(&x) && (y - (10 - x)).abs() <= 1 && y >= 4;
        let long = (6..=12).contains(&x) && (y - (x - 2)).abs() <= 1 && y >= 4;
        short || long
    };
    let mut pixels = Vec::with_capacity((N * N * 4) as usize);
    for y in 0..N as i32 {
        for x in 0..N as i32 {
            let (b, g, r) = if check(x, y) {
                (255, 255, 255)
            } else {
                (0xad, 0x5c, 0x0b)
            };
            pixels.extend_from_slice(&[b, g, r, 255]);
        }
    }
    let mask = vec![0u8; (N * 4) as usize]; // 16 rows of 32 bits, all opaque
    let image_len = 40 + pixels.len() + mask.len();
    let mut ico = Vec::with_capacity(22 + image_len);
    ico.extend_from_slice(&[0, 0, 1, 0, 1, 0]); // ICONDIR: icon, one image
    ico.extend_from_slice(&[N as u8, N as u8, 0, 0, 1, 0, 32, 0]);
    ico.extend_from_slice(&(image_len as u32).to_le_bytes());
    ico.extend_from_slice(&22u32.to_le_bytes());
    ico.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    ico.extend_from_slice(&(N as i32).to_le_bytes());
    ico.extend_from_slice(&((N * 2) as i32).to_le_bytes()); // colour + mask
    ico.extend_from_slice(&1u16.to_le_bytes());
    ico.extend_from_slice(&32u16.to_le_bytes());
    ico.extend_from_slice(&[0u8; 24]);
    ico.extend_from_slice(&pixels);
    ico.extend_from_slice(&mask);
    ico
}

#[cfg(test)]
mod tests {
    #[test]
    fn favicon_is_a_well_formed_ico() {
        let ico = super::favicon();
        assert_eq!(&ico[..4], &[0, 0, 1, 0]);
        let len = u32::from_le_bytes(ico[14..18].try_into().unwrap()) as usize;
        let offset = u32::from_le_bytes(ico[18..22].try_into().unwrap()) as usize;
        assert_eq!(offset + len, ico.len());
    }
}
