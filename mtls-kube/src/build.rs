//! Values of mtls-policy's `#[non_exhaustive]` configuration structs that have no constructor:
//! read from constant templates through their own serde schema, then filled field by field.

use mtls_policy::{CrlOptions, HostConfig, ListenerConfig, PolicyConfig, RouteConfig, TrustSource};
use serde::de::DeserializeOwned;

fn template<T: DeserializeOwned>(json: &str) -> T {
    // The templates are constants, checked by the tests below: no input reaches this.
    #[allow(clippy::expect_used)]
    serde_json::from_str(json).expect("a constant template of mtls-policy's schema")
}

pub(crate) fn policy() -> PolicyConfig {
    template(r#"{"listeners":[]}"#)
}

pub(crate) fn listener(name: &str, port: u16) -> ListenerConfig {
    let mut l: ListenerConfig = template(r#"{"name":"","port":1,"hosts":[]}"#);
    l.name = name.to_string();
    l.port = Some(port);
    l
}

pub(crate) fn host(hostnames: Vec<String>) -> HostConfig {
    let mut h: HostConfig = template("{}");
    h.hostnames = hostnames;
    h
}

pub(crate) fn route(name: &str, path_prefix: &str) -> RouteConfig {
    let mut r: RouteConfig = template(r#"{"path_prefix":"/"}"#);
    r.name = name.to_string();
    r.path_prefix = Some(path_prefix.to_string());
    r
}

pub(crate) fn crl(sources: Vec<TrustSource>) -> CrlOptions {
    let mut c: CrlOptions = template(r#"{"sources":[]}"#);
    c.sources = sources;
    c
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_match_the_schema() {
        assert!(super::policy().listeners.is_empty());
        assert_eq!(super::listener("a", 443).port, 443);
        assert_eq!(super::host(vec!["a".into()]).hostnames, ["a"]);
        assert_eq!(super::route("r", "/x").path_prefix, "/x");
        assert!(super::crl(vec![]).sources.is_empty());
    }
}
