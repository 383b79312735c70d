//! Pages: Tera templates compiled into the binary, texts in English and
//! Portuguese, the language chosen by `?lang=`, then a cookie, then
//! `Accept-Language`.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use tera::Tera;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Pt,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pt => "pt",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Pt,
            Lang::Pt => Lang::En,
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("pt") {
            Some(Lang::Pt)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The supported language the browser prefers most, English otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "login_totp.html",
        include_str!("../templates/login_totp.html"),
    ),
    (
        "login_recovery.html",
        include_str!("../templates/login_recovery.html"),
    ),
    ("register.html", include_str!("../templates/register.html")),
    ("enroll.html", include_str!("../templates/enroll.html")),
    (
        "recovery_codes.html",
        include_str!("../templates/recovery_codes.html"),
    ),
    ("welcome.html", include_str!("../templates/welcome.html")),
    ("error.html", include_str!("../templates/error.html")),
    (
        "account_macros.html",
        include_str!("../templates/account_macros.html"),
    ),
    ("account.html", include_str!("../templates/account.html")),
    (
        "account_prove.html",
        include_str!("../templates/account_prove.html"),
    ),
    (
        "account_step.html",
        include_str!("../templates/account_step.html"),
    ),
];

pub const EN: &str = include_str!("../locales/en.toml");
pub const PT: &str = include_str!("../locales/pt.toml");

pub struct Pages {
    tera: Tera,
    en: BTreeMap<String, String>,
    pt: BTreeMap<String, String>,
}

impl Pages {
    pub fn load() -> Result<Pages> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .context("page templates do not compile")?;
        tera.autoescape_on(vec![".html"]);
        Ok(Pages {
            tera,
            en: toml::from_str(EN).context("locales/en.toml")?,
            pt: toml::from_str(PT).context("locales/pt.toml")?,
        })
    }

    pub fn texts(&self, lang: Lang) -> &BTreeMap<String, String> {
        match lang {
            Lang::En => &self.en,
            Lang::Pt => &self.pt,
        }
    }

    /// One text, with `{name}` placeholders filled in.
    pub fn text(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self
            .texts(lang)
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string());
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    pub fn render(
        &self,
        template: &str,
        lang: Lang,
        path: &str,
        mut ctx: tera::Context,
    ) -> Result<String> {
        ctx.insert("t", self.texts(lang));
        ctx.insert("lang", lang.code());
        ctx.insert("other_lang", lang.other().code());
        ctx.insert("path", path);
        self.tera
            .render(template, &ctx)
            .with_context(|| format!("rendering {template}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_texts() {
        let p = Pages::load().unwrap();
        let en: Vec<_> = p.en.keys().collect();
        let pt: Vec<_> = p.pt.keys().collect();
        assert_eq!(en, pt);
        for (k, v) in &p.pt {
            assert!(!v.trim().is_empty(), "{k} is empty in pt");
        }
    }

    #[test]
    fn accept_language_picks_the_preferred_supported_one() {
        assert_eq!(
            Lang::from_accept_language("pt-PT,pt;q=0.9,en;q=0.8"),
            Lang::Pt
        );
        assert_eq!(Lang::from_accept_language("pt-BR"), Lang::Pt);
        assert_eq!(
            Lang::from_accept_language("fr-FR,en;q=0.5,pt;q=0.4"),
            Lang::En
        );
        assert_eq!(Lang::from_accept_language("fr,de"), Lang::En);
        assert_eq!(Lang::from_accept_language("en;q=0.2,pt;q=0.9"), Lang::Pt);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }
}
