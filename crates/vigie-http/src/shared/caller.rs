//! The signed-in caller as an extractor, behind a gate.
//!
//! A handler names who may call it in its signature, and gets the caller:
//!
//! ```ignore
//! async fn list(me: ApiSession) -> Result<Response, Problem> {
//!     me.run(|st, authed, _| Ok(Json(st.accounts.passkeys_of(authed.caller.agent.id)?))).await
//! }
//! async fn remove(me: ApiSession<Fresh>, Path(id): Path<String>) -> … // a recent second factor
//! async fn unfreeze(me: ApiSession<(Officer, Fresh)>, …) -> …        // an officer's action
//! ```
//!
//! [`ApiSession`] answers refusals as problem+json; [`PageSession`] as an error page with the
//! menu and the sign-out button, and sends a browser without a session to the sign-in page.
//!
//! Extraction does no I/O: it reads the tokens and the client from the request and, for a
//! state-changing gate ([`Gate::WRITES`]), refuses a cookie-authenticated request from another
//! origin. `run`/`render` then authenticate (a store read, so on the blocking pool) and, in the
//! same trip, admit the caller through the gate and do the handler's work: one trip to the
//! blocking pool per request, not two (the guarded read's hot path counts them). They add the
//! cookies of a token refreshed on the way and `Cache-Control: no-store`.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use vigie_core::org::Role;

use crate::shared::auth::{Authed, authenticate, same_origin};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::render::{self, PageCtx};
use crate::shared::state::{ACCESS_COOKIE, AppState};
use crate::shared::tokens::{self, Presented, Tokens};

/// Who may pass: checked once the caller is known, before the handler's work.
pub trait Gate: Send + 'static {
    /// A state-changing route: a cookie-authenticated request must come from our own origin.
    const WRITES: bool;
    /// A route whose existence is not confirmed to whoever may not pass: a page answers 404
    /// to a browser without a session too, rather than sending it to the sign-in page.
    const HIDDEN: bool = false;
    /// Admits the caller, or says why not.
    fn admit(authed: &Authed) -> Result<(), Problem>;
}

/// Any signed-in agent, reading.
#[derive(Debug)]
pub struct Read;
impl Gate for Read {
    const WRITES: bool = false;
    fn admit(_: &Authed) -> Result<(), Problem> {
        Ok(())
    }
}

/// Any signed-in agent, changing something: the origin is checked.
#[derive(Debug)]
pub struct Write;
impl Gate for Write {
    const WRITES: bool = true;
    fn admit(_: &Authed) -> Result<(), Problem> {
        Ok(())
    }
}

/// A sensitive action (adding or removing a passkey; an officer's action): a second factor
/// proven in the last elevation window, by a step-up or at sign-in. Changes something.
#[derive(Debug)]
pub struct Fresh;
impl Gate for Fresh {
    const WRITES: bool = true;
    fn admit(authed: &Authed) -> Result<(), Problem> {
        if authed.recent_factor() {
            Ok(())
        } else {
            Err(Problem::step_up_required(
                "this action needs a second factor confirmed in the last 15 minutes: step up first",
            ))
        }
    }
}

/// Reading what only a recent second factor may see (an incident's persons): as [`Fresh`],
/// without changing anything.
#[derive(Debug)]
pub struct Recent;
impl Gate for Recent {
    const WRITES: bool = false;
    fn admit(authed: &Authed) -> Result<(), Problem> {
        Fresh::admit(authed)
    }
}

/// Security officers only.
#[derive(Debug)]
pub struct Officer;
impl Gate for Officer {
    const WRITES: bool = false;
    fn admit(authed: &Authed) -> Result<(), Problem> {
        if authed.caller.agent.role == Role::SecurityOfficer {
            Ok(())
        } else {
            Err(Problem::forbidden("this is for security officers"))
        }
    }
}

/// The security console: security officers signed in with a passkey. Anyone else is told the
/// page does not exist (a partner agent learns nothing of the console); an officer who signed
/// in otherwise is told to sign in with a passkey.
#[derive(Debug)]
pub struct Console;
impl Gate for Console {
    const WRITES: bool = false;
    const HIDDEN: bool = true;
    fn admit(authed: &Authed) -> Result<(), Problem> {
        if authed.caller.agent.role != Role::SecurityOfficer {
            return Err(Problem::not_found());
        }
        if authed.session.method != "passkey" {
            return Err(Problem::passkey_only());
        }
        Ok(())
    }
}

/// Both gates, in order: `(Officer, Fresh)` is an officer's action.
impl<A: Gate, B: Gate> Gate for (A, B) {
    const WRITES: bool = A::WRITES || B::WRITES;
    const HIDDEN: bool = A::HIDDEN || B::HIDDEN;
    fn admit(authed: &Authed) -> Result<(), Problem> {
        A::admit(authed)?;
        B::admit(authed)
    }
}

/// The caller of a JSON API route, admitted by `G`; refusals are problem+json.
#[derive(Debug)]
pub struct ApiSession<G: Gate = Read> {
    pub state: Arc<AppState>,
    pub presented: Presented,
    pub client: Client,
    gate: PhantomData<fn() -> G>,
}

impl<G: Gate> FromRequestParts<Arc<AppState>> for ApiSession<G> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let client = Client::from_request_parts(parts, state).await?;
        let presented = Presented::from_headers(&parts.headers);
        if G::WRITES {
            same_origin(state, &parts.headers, &presented)?;
        }
        Ok(ApiSession { state: state.clone(), presented, client, gate: PhantomData })
    }
}

impl<G: Gate> ApiSession<G> {
    /// Authenticates, admits through the gate and runs `f`, on the blocking pool in one trip.
    pub async fn run<F, R>(self, f: F) -> Result<Response, Problem>
    where
        F: FnOnce(&AppState, &Authed, &Client) -> Result<R, Problem> + Send + 'static,
        R: IntoResponse,
    {
        let ApiSession { state, presented, client, .. } = self;
        let st = state.clone();
        let (resp, refreshed) = tokio::task::spawn_blocking(move || {
            let authed = authenticate(&st, &presented, &client)?;
            let resp = match G::admit(&authed).and_then(|()| f(&st, &authed, &client)) {
                Ok(r) => r.into_response(),
                Err(p) => p.into_response(),
            };
            Ok::<_, Problem>((resp, authed.refreshed))
        })
        .await
        .map_err(|_| Problem::internal())??;
        Ok(finish(&state, resp, refreshed))
    }
}

/// The caller of a page, admitted by `G`. Refusals are error pages in the agent's language,
/// with the menu; a browser without a (live) session goes to the sign-in page.
#[derive(Debug)]
pub struct PageSession<G: Gate = Read> {
    pub state: Arc<AppState>,
    pub presented: Presented,
    pub client: Client,
    /// The page's language and address.
    pub ctx: PageCtx,
    gate: PhantomData<fn() -> G>,
}

impl<G: Gate> FromRequestParts<Arc<AppState>> for PageSession<G> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let Ok(ctx) = PageCtx::from_request_parts(parts, state).await;
        let client = Client::from_request_parts(parts, state).await.map_err(|p| render::problem_page(&p, &ctx))?;
        let presented = Presented::from_headers(&parts.headers);
        if G::WRITES {
            same_origin(state, &parts.headers, &presented).map_err(|p| {
                // A hidden route says nothing to a forged post either.
                let p = if G::HIDDEN { Problem::not_found() } else { p };
                render::problem_page(&p, &ctx)
            })?;
        }
        Ok(PageSession { state: state.clone(), presented, client, ctx, gate: PhantomData })
    }
}

impl<G: Gate> PageSession<G> {
    /// Authenticates, admits through the gate and runs `f` (given the page's context, signed
    /// in), on the blocking pool in one trip; a refusal becomes its error page, with the menu.
    pub async fn render<F>(self, f: F) -> Response
    where
        F: FnOnce(&AppState, &Authed, &Client, &PageCtx) -> Result<Response, Problem> + Send + 'static,
    {
        let PageSession { state, presented, client, ctx, .. } = self;
        let st = state.clone();
        let anonymous = ctx.clone();
        let outer = ctx.clone();
        let out = tokio::task::spawn_blocking(move || {
            let authed = authenticate(&st, &presented, &client)?;
            let ctx = ctx.signed_in(&authed);
            let resp = match G::admit(&authed).and_then(|()| f(&st, &authed, &client, &ctx)) {
                Ok(r) => r,
                // The request ended the session (a failed step-up, a suspension): no menu of a
                // session that is gone, and its cookies cleared.
                Err(p) if p.kind.ends_with(":session-ended") => {
                    let mut r = render::problem_page(&p, &anonymous);
                    for c in tokens::clear_cookies() {
                        r.headers_mut().append(header::SET_COOKIE, c);
                    }
                    r
                }
                Err(p) => render::problem_page(&p, &ctx),
            };
            Ok::<_, Problem>((resp, authed.refreshed))
        })
        .await;
        match out {
            Ok(Ok((resp, refreshed))) => finish(&state, resp, refreshed),
            // A hidden route says nothing to a browser without a session.
            Ok(Err(p)) if G::HIDDEN && p.status == 401 => {
                finish(&state, render::problem_page(&Problem::not_found(), &outer), None)
            }
            // No session, or one that just ended: to the sign-in page, with the cookies cleared.
            Ok(Err(p)) if p.status == 401 && !p.kind.ends_with(":step-up-required") => {
                let mut r = Redirect::to("/login").into_response();
                for c in tokens::clear_cookies() {
                    r.headers_mut().append(header::SET_COOKIE, c);
                }
                finish(&state, r, None)
            }
            Ok(Err(p)) => finish(&state, render::problem_page(&p, &outer), None),
            Err(_) => render::problem_page(&Problem::internal(), &outer),
        }
    }
}

/// A form posted without a session (signing in): it must come from our own pages all the
/// same (a forged sign-in form would sign a victim in as the attacker).
#[derive(Debug)]
pub struct OwnOrigin;

impl FromRequestParts<Arc<AppState>> for OwnOrigin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let as_browser = Presented { cookies: true, ..Presented::default() };
        if let Err(p) = same_origin(state, &parts.headers, &as_browser) {
            let Ok(ctx) = PageCtx::from_request_parts(parts, state).await;
            return Err(render::problem_page(&p, &ctx));
        }
        Ok(OwnOrigin)
    }
}

/// What every authenticated answer carries: the cookies of a token refreshed on the way
/// (unless the answer sets a newer access token itself: a step-up cycles it), and
/// `Cache-Control: no-store`.
pub fn finish(state: &AppState, mut resp: Response, refreshed: Option<Tokens>) -> Response {
    let sets_access =
        resp.headers().get_all(header::SET_COOKIE).iter().any(|v| v.as_bytes().starts_with(ACCESS_COOKIE.as_bytes()));
    if let Some(t) = refreshed.filter(|_| !sets_access) {
        for c in tokens::cookies(state, &t) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
