//! Statuses from the responder: good, revoked, unknown; a response for another certificate;
//! stale and future responses; the nonce; the responder the certificate names.

use super::*;

#[test]
fn good_revoked_and_unknown_statuses_from_the_issuer() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    let now = UnixTime::now();

    let good = setup.request(&setup.good);
    match verifier().verify(&good, &responder.ask(good.der()), now) {
        Ok(OcspStatus::Good {
            next_update: Some(next),
        }) => {
            let ahead = next.as_secs().saturating_sub(now.as_secs());
            assert!(
                (3_500..=3_700).contains(&ahead),
                "nextUpdate {ahead} s ahead"
            );
        }
        other => panic!("good client: {other:?}"),
    }

    let revoked = setup.request(&setup.revoked);
    assert_eq!(
        verifier().verify(&revoked, &responder.ask(revoked.der()), now),
        Ok(OcspStatus::Revoked {
            // 2026-01-01T00:00:00Z, as the index says.
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_767_225_600)),
            reason: Some(RevocationReason::KeyCompromise),
        })
    );

    let unknown = setup.request(&setup.unknown);
    assert_eq!(
        verifier().verify(&unknown, &responder.ask(unknown.der()), now),
        Ok(OcspStatus::Unknown)
    );
}

#[test]
fn a_response_for_another_certificate_is_refused() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    let answer = responder.ask(setup.request(&setup.good).der());
    assert_eq!(
        verifier().verify(&setup.request(&setup.revoked), &answer, UnixTime::now()),
        Err(OcspError::ForAnotherCertificate {
            serial: "1002".into(),
            answered: "1001".into(),
        })
    );
}

#[test]
fn a_stale_response_is_refused() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "1"]);
    let request = setup.request(&setup.good);
    let answer = responder.ask(request.der());
    let now = UnixTime::now();
    // Within nextUpdate plus the skew: good.
    assert!(matches!(
        verifier().verify(&request, &answer, later(now, 5 * 60)),
        Ok(OcspStatus::Good {
            next_update: Some(_)
        })
    ));
    // Ten minutes on, the one-minute status is past nextUpdate plus five minutes of skew.
    match verifier().verify(&request, &answer, later(now, 10 * 60)) {
        Err(OcspError::Stale {
            next_update_given: true,
            valid_until,
            ..
        }) => assert!(valid_until.as_secs() <= now.as_secs() + 61 + 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_response_without_next_update_counts_for_the_maximum_age() {
    let setup = Setup::new();
    let responder = setup.responder(&[]);
    let request = setup.request(&setup.good);
    let answer = responder.ask(request.der());
    let now = UnixTime::now();
    assert_eq!(
        verifier().verify(&request, &answer, now),
        Ok(OcspStatus::Good { next_update: None })
    );
    let verifier = verifier().max_age(Duration::from_secs(60));
    assert!(matches!(
        verifier.verify(&request, &answer, later(now, 10 * 60)),
        Err(OcspError::Stale {
            next_update_given: false,
            ..
        })
    ));
}

#[test]
fn a_response_from_the_future_is_refused() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    let request = setup.request(&setup.good);
    let answer = responder.ask(request.der());
    let an_hour_ago =
        UnixTime::since_unix_epoch(Duration::from_secs(UnixTime::now().as_secs() - 3_600));
    assert!(matches!(
        verifier().verify(&request, &answer, an_hour_ago),
        Err(OcspError::NotYetValid { .. })
    ));
}

#[test]
fn the_nonce_must_be_echoed() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    let provider = mtls_verify::crypto::default_provider();
    let (nonce, other) = (
        random_nonce(&provider).unwrap(),
        random_nonce(&provider).unwrap(),
    );
    let cert = setup.good.cert.der();
    let with_nonce = |nonce: &[u8]| {
        OcspRequest::builder(cert, setup.ca.der())
            .nonce(nonce)
            .build()
            .unwrap()
    };
    let request = with_nonce(&nonce);
    let answer = responder.ask(request.der());
    let now = UnixTime::now();
    assert!(matches!(
        verifier().verify(&request, &answer, now),
        Ok(OcspStatus::Good { .. })
    ));
    // The same answer, for a request that sent another nonce: a replay.
    assert_eq!(
        verifier().verify(&with_nonce(&other), &answer, now),
        Err(OcspError::NonceMismatch)
    );
    // An answer to a request without nonce, for one that sent a nonce.
    let answer = responder.ask(setup.request(&setup.good).der());
    assert_eq!(
        verifier().verify(&request, &answer, now),
        Err(OcspError::NonceMissing)
    );
}

#[test]
fn the_responder_named_in_the_certificate_is_asked() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    // The good client's serial again (the index answers by serial), now naming the responder
    // in its authorityInfoAccess.
    let url = responder.url();
    let aia = aia_ocsp(&url);
    let client = setup.ca.issue_with("good client", setup.good.serial, |p| {
        p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            aia,
        )];
    });
    let request = OcspRequest::new(client.cert.der(), setup.ca.der()).unwrap();
    assert_eq!(request.responder_uris(), std::slice::from_ref(&url));
    assert!(matches!(
        verifier().verify(&request, &post(&url, request.der()), UnixTime::now()),
        Ok(OcspStatus::Good { .. })
    ));
    // A certificate without authorityInfoAccess names none.
    assert!(setup.request(&setup.good).responder_uris().is_empty());
}

/// AuthorityInfoAccessSyntax with one id-ad-ocsp entry for `uri`.
fn aia_ocsp(uri: &str) -> Vec<u8> {
    let tlv = |tag: u8, contents: &[u8]| {
        let mut out = vec![tag, u8::try_from(contents.len()).unwrap()];
        out.extend_from_slice(contents);
        out
    };
    let method = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = tlv(0x86, uri.as_bytes());
    tlv(0x30, &tlv(0x30, &[method, location].concat()))
}
