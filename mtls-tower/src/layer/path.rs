//! The request path as an upstream may understand it, for route matching.
//!
//! Routes are path prefixes. An upstream that decodes `%2e`, merges `//` or resolves `..`
//! would serve `/public/../admin` as `/admin`; so when a path is not already in normal form the
//! layer decides on both the raw and the normalised path and keeps the stricter outcome.

use std::borrow::Cow;

/// The path with unreserved characters, `/` and `\` percent-decoded, `\` read as `/`, repeated
/// slashes merged and dot segments removed (RFC 3986 section 5.2.4). Borrowed when unchanged.
pub(crate) fn normalize(path: &str) -> Cow<'_, str> {
    if !path.contains(['%', '\\', '.']) && !path.contains("//") {
        return Cow::Borrowed(path);
    }
    let decoded = decode(path);
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "" | "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut n = String::with_capacity(decoded.len());
    for s in &out {
        n.push('/');
        n.push_str(s);
    }
    if trailing_slash || n.is_empty() {
        n.push('/');
    }
    if n == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(n)
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn decode(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                let c = h * 16 + l;
                if c.is_ascii_alphanumeric()
                    || matches!(c, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\')
                {
                    i += 3;
                    Some(c)
                } else {
                    None
                }
            }
            _ => None,
        };
        match c {
            Some(c) => out.push(if c == b'\\' { b'/' } else { c }),
            None => {
                out.push(if b[i] == b'\\' { b'/' } else { b[i] });
                i += 1;
            }
        }
    }
    // Only ASCII bytes were substituted for ASCII sequences, so the text stays UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normal_forms() {
        for (raw, want) in [
            ("/admin", "/admin"),
            ("/", "/"),
            ("", ""),
            ("/a/", "/a/"),
            ("/public/../admin", "/admin"),
            ("//admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public%2f..%2fadmin", "/admin"),
            ("/public\\..\\admin/", "/admin/"),
            ("/./a/./b/.", "/a/b/"),
            ("/../../a", "/a"),
            ("/a/..", "/"),
            ("/%20x/%ZZ/%", "/%20x/%ZZ/%"),
            ("/v1.2/x", "/v1.2/x"),
        ] {
            assert_eq!(normalize(raw), want, "{raw:?}");
        }
    }
}
