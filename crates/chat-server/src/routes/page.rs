//! `GET /` and its assets: the browser client, compiled into the binary so the
//! server needs no files beside it and the page makes no request to another
//! origin.
//!
//! Only these exact paths are registered, so every other path keeps the
//! contract's JSON 404.

use actix_web::http::header::{self, CacheControl, CacheDirective, ETag, EntityTag, IfNoneMatch};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::fallback;

/// Allows the page's own script, style, images and requests only: a message
/// that somehow became markup could neither run inline script nor reach
/// another origin, and no other site can frame the page.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// One embedded file and how it is served.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// A hash of `body`, computed at compile time, for the `ETag`.
    hash: u64,
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        Self {
            path,
            content_type,
            body,
            hash: fnv1a(body),
        }
    }

    /// The asset, or `304 Not Modified` when the browser's copy is current.
    ///
    /// Asset names carry no version, so `no-cache` makes the browser
    /// revalidate on every load (a new binary is picked up at once) and the
    /// `ETag` keeps that revalidation to an empty 304.
    fn respond(&self, request: &HttpRequest) -> HttpResponse {
        let etag = EntityTag::new_strong(format!("{:016x}", self.hash));
        let fresh = match request.get_header::<IfNoneMatch>() {
            Some(IfNoneMatch::Any) => true,
            Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(&etag)),
            None => false,
        };
        let mut response = if fresh {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header(CacheControl(vec![CacheDirective::NoCache]))
            .insert_header(ETag(etag))
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"));
        if fresh {
            response.finish()
        } else {
            response.content_type(self.content_type).body(self.body)
        }
    }
}

/// Everything the page loads; `/` is the page itself, `/app.js` its script,
/// which imports the modules under `/js/`.
static ASSETS: [Asset; 11] = [
    Asset::new(
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../static/index.html"),
    ),
    Asset::new("/app.js", JAVASCRIPT, include_bytes!("../../static/app.js")),
    Asset::new(
        "/js/page.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/page.js"),
    ),
    Asset::new(
        "/js/options.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/options.js"),
    ),
    Asset::new(
        "/js/token.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/token.js"),
    ),
    Asset::new(
        "/js/http.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/http.js"),
    ),
    Asset::new(
        "/js/render.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/render.js"),
    ),
    Asset::new(
        "/js/room-view.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/room-view.js"),
    ),
    Asset::new(
        "/js/event-follower.js",
        JAVASCRIPT,
        include_bytes!("../../static/js/event-follower.js"),
    ),
    Asset::new(
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    Asset::new(
        "/favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Registers the page and its assets: `GET` only, any other method is the
/// contract's JSON 405.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    for asset in &ASSETS {
        config.service(
            web::resource(asset.path)
                .route(
                    web::get()
                        .to(move |request: HttpRequest| async move { asset.respond(&request) }),
                )
                .default_service(fallback::method_not_allowed("GET")),
        );
    }
}

/// 64-bit FNV-1a: tiny, `const`, and plenty to tell two versions of a file
/// apart (this is a cache key, not a defence against anyone).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_page_loads_its_assets_from_its_own_origin_only() {
        let text = |asset: &Asset| std::str::from_utf8(asset.body).unwrap();
        let page = text(&ASSETS[0]);
        let scripts: Vec<&str> = ASSETS
            .iter()
            .filter(|asset| asset.content_type == JAVASCRIPT)
            .map(text)
            .collect();
        for asset in &ASSETS[1..] {
            // The page names its own files; the scripts import the modules
            // by relative path, from `/app.js` or from a sibling in `/js/`.
            let named = page.contains(&format!("\"{}\"", asset.path));
            let imported = asset.path.strip_prefix("/js/").is_some_and(|file| {
                let from_app = format!("from './js/{file}'");
                let from_sibling = format!("from './{file}'");
                scripts
                    .iter()
                    .any(|script| script.contains(&from_app) || script.contains(&from_sibling))
            });
            assert!(named || imported, "{}", asset.path);
        }
        for script in &scripts {
            // Modules load only from this origin: no absolute import.
            assert!(!script.contains("from 'http") && !script.contains("import('"));
        }
        // The CSP forbids inline script and style, so the page must have none.
        assert!(!page.contains("<script>") && !page.contains("style="));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
