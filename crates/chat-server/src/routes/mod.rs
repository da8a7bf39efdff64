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
    ("/app.css", &["GET"]),
    ("/favicon.svg", &["GET"]),
    ("/messages", &["GET", "POST"]),
    ("/rooms/{room}/messages", &["GET", "POST"]),
    ("/events", &["GET"]),
    ("/rooms/{room}/events", &["GET"]),
    ("/healthz", &["GET"]),
    ("/metrics", &["GET"]),
];

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
