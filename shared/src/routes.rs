//! Route tables: each HTTP function declares its routes once, as a table of method, path
//! template and endpoint, and dispatches on the endpoint it finds ([`find`]). The local stack
//! mounts the same tables, and a test holds them to the routes `template.yaml` gives API Gateway
//! (`tests/tests/template.rs`), so the three can no longer drift apart.
//!
//! Path templates are API Gateway's (`/widget/sessions/{id}/messages`). A request matches a
//! template when its last segments do, so a stage prefix (`/prod/widget/sessions`) makes no
//! difference, as it made none to the suffix tests this replaces.

use http::Method;

/// One route of a function: what API Gateway (and the local stack) sends it, and what it is.
#[derive(Debug, Clone)]
pub struct Route<E: Copy + 'static> {
    pub method: Method,
    pub path: &'static str,
    pub endpoint: E,
}

/// Path parameters of a matched route, by the names in its template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the table says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<E> {
    Route(E, Params),
    /// The path is one of ours, not with this method: 405.
    WrongMethod,
    /// No route has this path: 404.
    NoRoute,
}

/// The parameters if `path` ends with the segments of `template`.
fn matches(template: &'static str, path: &str) -> Option<Params> {
    let want: Vec<&'static str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let have: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if have.len() < want.len() {
        return None;
    }
    let tail = &have[have.len() - want.len()..];
    let mut params = Vec::new();
    for (w, h) in want.iter().zip(tail) {
        match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) => params.push((name, (*h).to_owned())),
            None if w == h => {}
            None => return None,
        }
    }
    Some(Params(params))
}

/// The route for `method` and `path`, the first in table order.
pub fn find<E: Copy>(table: &[Route<E>], method: &Method, path: &str) -> Found<E> {
    let mut path_known = false;
    for route in table {
        if let Some(params) = matches(route.path, path) {
            if route.method == method {
                return Found::Route(route.endpoint, params);
            }
            path_known = true;
        }
    }
    if path_known {
        Found::WrongMethod
    } else {
        Found::NoRoute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum E {
        Start,
        Send,
        Poll,
    }

    const TABLE: &[Route<E>] = &[
        Route {
            method: Method::POST,
            path: "/widget/sessions",
            endpoint: E::Start,
        },
        Route {
            method: Method::POST,
            path: "/widget/sessions/{id}/messages",
            endpoint: E::Send,
        },
        Route {
            method: Method::GET,
            path: "/widget/sessions/{id}/messages",
            endpoint: E::Poll,
        },
    ];

    #[test]
    fn a_route_is_found_by_method_and_path_with_its_parameters() {
        let Found::Route(e, p) = find(TABLE, &Method::GET, "/widget/sessions/abc/messages") else {
            panic!("no route");
        };
        assert_eq!((e, p.get("id")), (E::Poll, Some("abc")));
        assert_eq!(
            find(TABLE, &Method::POST, "/prod/widget/sessions"),
            Found::Route(E::Start, Params::default())
        );
    }

    #[test]
    fn a_known_path_with_another_method_is_not_a_missing_route() {
        assert_eq!(
            find(TABLE, &Method::DELETE, "/widget/sessions"),
            Found::WrongMethod
        );
        assert_eq!(find(TABLE, &Method::GET, "/widget/other"), Found::NoRoute);
        assert_eq!(find(TABLE, &Method::GET, "/messages"), Found::NoRoute);
    }
}
