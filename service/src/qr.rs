//! The enrolment QR code as inline SVG, drawn server-side (no script, no
//! external image), sized to scan easily from a laptop screen.

use anyhow::{anyhow, Result};
use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write;

/// Rendered size in CSS pixels (the design asks for at least 200).
const SIZE_PX: u32 = 264;
/// The quiet zone around the code, in modules (the standard asks for 4).
const QUIET: usize = 4;

/// `<svg id="otpauth-qr" …>` for `text`, with `label` as its accessible name.
pub fn svg(text: &str, label: &str) -> Result<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| anyhow!("QR code: {e}"))?;
    let width = code.width();
    let colors = code.to_colors();
    let total = width + 2 * QUIET;
    let mut path = String::new();
    for y in 0..width {
        let mut x = 0;
        while x < width {
            if colors[y * width + x] == Color::Dark {
                let start = x;
                while x < width && colors[y * width + x] == Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET,
                    y + QUIET,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Ok(format!(
        r##"<svg id="otpauth-qr" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{label}" width="{SIZE_PX}" height="{SIZE_PX}" viewBox="0 0 {total} {total}" shape-rendering="crispEdges"><rect width="{total}" height="{total}" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_an_svg_with_the_contract_id() {
        let svg = super::svg(
            "otpauth://totp/twofa:a%40b.c?secret=JBSWY3DPEHPK3PXP",
            "QR <code>",
        )
        .unwrap();
        assert!(svg.starts_with(r#"<svg id="otpauth-qr""#));
        assert!(svg.contains(r#"width="264""#));
        assert!(svg.contains("QR &lt;code>"));
        assert!(svg.ends_with("</svg>"));
    }
}
