//! The URL map: one module per endpoint family, all handlers thin.

mod events;
mod fallback;
mod health;
mod messages;
mod page;

use actix_web::web;

use crate::sse::EventCache;

pub(crate) use fallback::not_found;

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
        );
}
