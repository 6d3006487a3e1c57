//! One way to render a page: the layout (header, menu with the signed-in agent and the
//! sign-out button, the page's title), the Content Security Policy and `Cache-Control:
//! no-store` every page carries, and one way to show a refusal as a page, with the menu
//! whenever the agent is signed in, so that no error leaves an agent without a way out.
//!
//! No external CDN, no inline script (the policy forbids it): one same-origin script for the
//! WebAuthn ceremonies, one stylesheet. Every value put in HTML goes through [`esc`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use vigie_core::org::Role;

use crate::shared::auth::Authed;
use crate::shared::problem::Problem;

/// The pages' policy: same-origin script, style and images, forms that post only here, no
/// framing. Everything else gets `default-src 'none'` (see the router).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: `body` (HTML, already escaped) under the layout, with the menu when `who` is
/// signed in.
pub fn page(title: &str, who: Option<&Authed>, body: &str) -> Response {
    let nav = match who {
        Some(a) => {
            let admin = matches!(a.caller.agent.role, Role::AccountAdmin | Role::SecurityOfficer);
            format!(
                "<nav><a href=\"/scope\">My scope</a> <a href=\"/sessions\">Sessions &amp; passkeys</a>{} \
                 <span class=\"who\">{} · {} · {}{}</span> \
                 <form method=\"post\" action=\"/logout\" class=\"inline\"><button>Sign out</button></form></nav>",
                if admin { " <a href=\"/accounts\">Accounts</a>" } else { "" },
                esc(&a.caller.agent.display_name),
                esc(a.caller.agent.role.as_str()),
                esc(&a.caller.org.name),
                // Sensitive actions are open (a step-up, or a fresh two-factor sign-in).
                if a.recent_factor() { " · <b>elevated</b>" } else { "" },
            )
        }
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · Vigie</title><link rel=\"stylesheet\" href=\"/static/vigie.css\"><script src=\"/static/vigie.js\" defer></script>\
         </head><body><header><h1><a href=\"/\">Vigie</a></h1>{nav}</header><main><h2>{}</h2>{body}</main></body></html>",
        esc(title),
        esc(title)
    );
    with_page_headers(Html(html).into_response())
}

/// A refusal as a page: the problem's title and detail, what to do next, and the menu (with
/// the sign-out button) whenever the agent is signed in.
pub fn problem_page(p: &Problem, who: Option<&Authed>) -> Response {
    let step_up = p.kind.ends_with(":step-up-required");
    let next = if step_up { "<a href=\"/step-up\">Confirm it is you</a>" } else { "<a href=\"/\">Back</a>" };
    let body = format!("<p class=\"error\" data-problem=\"{}\">{}</p><p>{next}</p>", esc(&p.kind), esc(&p.detail));
    let mut resp = page(p.title, who, &body);
    *resp.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    resp
}

/// A page that moves on to `to` at once (used after single sign-on, where a redirect would
/// lose the SameSite=Strict cookies just set).
pub fn continue_page(to: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={0}\"></head>\
         <body><a href=\"{0}\">Continue</a></body></html>",
        esc(to)
    );
    with_page_headers(Html(html).into_response())
}

/// `303 See Other` to `to`: where a form post leads.
pub fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

fn with_page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<script>\"a\" & 'b'</script>"), "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
    }
}
