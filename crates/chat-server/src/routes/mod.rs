//! The URL map: one module per endpoint family, all handlers thin.

mod events;
mod fallback;
mod health;
mod messages;
mod metrics;
mod page;

use actix_web::web;

use crate::sse::EventCache;

pub(crate) use fallback::not_found;

/// Every path the server serves, with the methods it takes there: what
/// `docs/openapi.yaml` must describe (the `openapi` test compares the two
/// and probes the server for each). Add a line with every new route.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/app.js", &["GET"]),
    ("/js/page.js", &["GET"]),
    ("/js/options.js", &["GET"]),
    ("/js/token.js", &["GET"]),
    ("/js/http.js", &["GET"]),
    ("/js/render.js", &["GET"]),
    ("/js/room-view.js", &["GET"]),
    ("/js/event-follower.js", &["GET"]),
    ("/app.css", &["GET"]),
    ("/favicon.svg", &["GET"]),
    ("/messages", &["GET", "POST"]),
    ("/rooms/{room}/messages", &["GET", "POST"]),
    ("/events", &["GET"]),
    ("/rooms/{room}/events", &["GET"]),
    ("/healthz", &["GET"]),
    ("/metrics", &["GET"]),
];

/// The pattern of [`ROUTES`] that `path` matches (a `{name}` segment matches
/// any one segment), for metrics labels: a comparison of segments, where
/// asking actix-web (`match_pattern`) would route the request a second time.
pub(crate) fn pattern_of(path: &str) -> Option<&'static str> {
    ROUTES.iter().map(|(pattern, _)| *pattern).find(|pattern| {
        *pattern == path || (pattern.contains('{') && segments_match(pattern, path))
    })
}

/// True when `path` has `pattern`'s segments, a `{name}` standing for any
/// non-empty one.
fn segments_match(pattern: &str, path: &str) -> bool {
    let mut segments = path.split('/');
    pattern.split('/').all(|expected| {
        segments.next().is_some_and(|segment| {
            segment == expected || (expected.starts_with('{') && !segment.is_empty())
        })
    }) && segments.next().is_none()
}

/// The `{room}` segment of a `/rooms/{room}/...` route, as routed (not yet
/// validated). Borrowed from the request: a parked poll holds no copy.
fn room_in_path(request: &actix_web::HttpRequest) -> &str {
    request.match_info().get("room").unwrap_or_default()
}

/// Registers every route of the contract, and the browser page.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .configure(page::configure)
        // Per worker (this runs once in each): its streams share the events.
        .app_data(web::Data::new(EventCache::default()))
        .service(
            web::resource("/messages")
                .route(web::get().to(messages::get_general))
                .route(web::post().to(messages::post_general))
                .default_service(fallback::method_not_allowed("GET, POST")),
        )
        .service(
            web::resource("/rooms/{room}/messages")
                .route(web::get().to(messages::get_room))
                .route(web::post().to(messages::post_room))
                .default_service(fallback::method_not_allowed("GET, POST")),
        )
        .service(
            web::resource("/events")
                .route(web::get().to(events::get_general))
                .default_service(fallback::method_not_allowed("GET")),
        )
        .service(
            web::resource("/rooms/{room}/events")
                .route(web::get().to(events::get_room))
                .default_service(fallback::method_not_allowed("GET")),
        )
        .service(
            web::resource("/healthz")
                .route(web::get().to(health::healthz))
                .default_service(fallback::method_not_allowed("GET")),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(metrics::metrics))
                .default_service(fallback::method_not_allowed("GET")),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_route_pattern() {
        for (path, pattern) in [
            ("/", Some("/")),
            ("/messages", Some("/messages")),
            ("/rooms/dev-ops/messages", Some("/rooms/{room}/messages")),
            ("/rooms/dev-ops/events", Some("/rooms/{room}/events")),
            ("/metrics", Some("/metrics")),
            ("/app.js", Some("/app.js")),
            ("/rooms//messages", None),
            ("/rooms/a/b/messages", None),
            ("/rooms/a/messages/", None),
            ("/messages/x", None),
            ("/nope", None),
            ("", None),
        ] {
            assert_eq!(pattern_of(path), pattern, "{path}");
        }
    }

    #[test]
    fn every_route_matches_itself() {
        for (pattern, _) in ROUTES {
            assert_eq!(pattern_of(pattern), Some(*pattern));
        }
    }
}
