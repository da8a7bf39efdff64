//! The one middleware around every request: its metrics and its log line,
//! taken when the answer is ready.
//!
//! Written as a `Transform` rather than with `middleware::from_fn`, so its
//! future is a plain struct around the app's: `from_fn` boxes each layer's
//! future twice (its own, and the next service's behind an `Rc`), which a
//! parked poll holds for as long as it waits, and allocates them for every
//! request.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, Error};
use pin_project_lite::pin_project;

use crate::state::AppState;
use crate::{metrics, telemetry};

/// Records every request's metrics and logs it; see the module.
pub(crate) struct Observe;

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ObserveService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ObserveService { service }))
    }
}

/// The service [`Observe`] wraps around the app.
pub(crate) struct ObserveService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for ObserveService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Observed<S::Future>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        // One `Arc` held while the request waits (a parked poll), not a copy
        // of every metric handle.
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Observed {
            answer: self.service.call(request),
            started: Instant::now(),
            state,
        }
    }
}

pin_project! {
    /// A request on its way to its answer, and when it arrived.
    pub(crate) struct Observed<F> {
        #[pin]
        answer: F,
        started: Instant,
        state: Option<web::Data<AppState>>,
    }
}

impl<F, B> Future for Observed<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        if let Ok(response) = &answer {
            if let Some(state) = this.state {
                metrics::record_request(state, response, *this.started);
            }
            telemetry::log_request(response, *this.started);
        }
        Poll::Ready(answer)
    }
}
