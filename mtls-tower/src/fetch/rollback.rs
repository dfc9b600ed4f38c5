//! A fetched CRL older than the one kept for its issuer is refused: a distribution point (or
//! whoever answers in its place; CRLs are fetched over plain HTTP) cannot roll revocations back
//! by serving an earlier CRL, whose signature is as good as it ever was.

use std::time::SystemTime;

use mtls_core::CrlSet;

/// Why `fetched` rolls `kept` back, if it does: a CRL of `fetched` whose thisUpdate is before
/// that of the CRL `kept` holds for the same issuer (and, for delta CRLs, of the same kind).
pub(super) fn rolls_back(fetched: &CrlSet, kept: &CrlSet) -> Option<String> {
    fetched.crls().iter().find_map(|new| {
        let old = kept
            .crls()
            .iter()
            .filter(|old| old.issuer_der() == new.issuer_der())
            .map(mtls_core::Crl::this_update)
            .max()?;
        (new.this_update() < old).then(|| {
            format!(
                "the CRL of {} has thisUpdate {}, before that of the CRL kept ({}): an older \
                 CRL does not replace a newer one",
                new.issuer(),
                unix(new.this_update()),
                unix(old),
            )
        })
    })
}

fn unix(t: SystemTime) -> String {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or_else(|_| "before 1970".into(), |d| format!("@{}", d.as_secs()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_older_crl_of_the_same_issuer_rolls_back() {
        let pki = mtls_testkit::Pki::shared();
        let now = SystemTime::now();
        let crl = |ago: u64| {
            let pem = pki
                .crls()
                .this_update(now - Duration::from_secs(ago))
                .build()
                .pem();
            CrlSet::from_bytes(pem.as_bytes(), "test").unwrap()
        };
        let (newer, older) = (crl(60), crl(3600));
        let why = rolls_back(&older, &newer).unwrap();
        assert!(why.contains("before that of the CRL kept"), "{why}");
        assert_eq!(rolls_back(&newer, &older), None);
        assert_eq!(rolls_back(&newer, &newer), None);
        assert_eq!(rolls_back(&older, &CrlSet::default()), None);
        let other = mtls_testkit::Pki::shared_unrelated().crls().build().pem();
        let other = CrlSet::from_bytes(other.as_bytes(), "other").unwrap();
        assert_eq!(rolls_back(&older, &other), None);
    }
}
