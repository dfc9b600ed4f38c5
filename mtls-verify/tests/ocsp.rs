//! OCSP responses from a real responder: `openssl ocsp`, started by each test on a local port
//! from an `openssl ca` index over a CA generated at test time, asked over loopback, its
//! answers verified by `mtls_verify::ocsp` with the exact status or error asserted.

mod ocsp_support;

use std::path::PathBuf;
use std::time::Duration;

use mtls_verify::ocsp::{
    CertIdHash, Delegation, OcspError, OcspRequest, OcspStatus, OcspVerifier, ResponderStatus,
    RevocationReason, random_nonce,
};
use ocsp_support::{Issued, Responder, TestCa, index_line, write};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use rustls_pki_types::UnixTime;

/// A CA, three clients (good, revoked for keyCompromise, absent from the index), the index
/// and the CA's files.
struct Setup {
    dir: tempfile::TempDir,
    ca: TestCa,
    good: Issued,
    revoked: Issued,
    unknown: Issued,
    index: PathBuf,
    ca_pem: PathBuf,
    ca_key: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("OCSP Test CA");
        let good = ca.issue("good client", 0x1001, vec![Eku::ClientAuth]);
        let revoked = ca.issue("revoked client", 0x1002, vec![Eku::ClientAuth]);
        let unknown = ca.issue("unknown client", 0x1003, vec![Eku::ClientAuth]);
        let index = write(
            dir.path(),
            "index.txt",
            &(index_line(&good, None) + &index_line(&revoked, Some("keyCompromise"))),
        );
        let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
        let ca_key = write(dir.path(), "ca.key", &ca.key.serialize_pem());
        Self {
            dir,
            ca,
            good,
            revoked,
            unknown,
            index,
            ca_pem,
            ca_key,
        }
    }

    /// A responder signing with the CA's own key, nextUpdate `minutes` after thisUpdate.
    fn responder(&self, extra: &[&str]) -> Responder {
        Responder::start(&self.index, &self.ca_pem, &self.ca_pem, &self.ca_key, extra)
    }

    /// A responder signing with `signer`'s certificate and key.
    fn responder_signed_by(&self, name: &str, cert_pem: &str, key_pem: &str) -> Responder {
        let cert = write(self.dir.path(), &format!("{name}.pem"), cert_pem);
        let key = write(self.dir.path(), &format!("{name}.key"), key_pem);
        Responder::start(&self.index, &self.ca_pem, &cert, &key, &["-nmin", "60"])
    }

    fn request(&self, client: &Issued) -> OcspRequest {
        OcspRequest::new(client.cert.der(), self.ca.der()).unwrap()
    }
}

fn verifier() -> OcspVerifier {
    OcspVerifier::new(&mtls_core::crypto::default_provider())
}

fn later(now: UnixTime, secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + secs))
}

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
fn a_response_signed_by_another_ca_is_refused() {
    let setup = Setup::new();
    // Another CA, named otherwise: not the issuer, and not issued by it.
    let other = TestCa::new("Other CA");
    let responder =
        setup.responder_signed_by("other", &other.cert.pem(), &other.key.serialize_pem());
    let request = setup.request(&setup.good);
    assert_eq!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Err(OcspError::UnauthorizedResponder {
            responder: "CN=Other CA".into(),
            why: Delegation::NotIssuedByIssuer,
        })
    );

    // An impostor with the issuer's name and its own key.
    let impostor = TestCa::new("OCSP Test CA");
    let responder = setup.responder_signed_by(
        "impostor",
        &impostor.cert.pem(),
        &impostor.key.serialize_pem(),
    );
    assert_eq!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Err(OcspError::BadSignature {
            signer: "the issuer".into(),
            detail: "invalid signature for the signer's public key".into(),
        })
    );
}

#[test]
fn a_delegated_responder_needs_ocsp_signing() {
    let setup = Setup::new();
    let request = setup.request(&setup.revoked);

    let delegate = setup
        .ca
        .issue("OCSP responder", 0x2001, vec![Eku::OcspSigning]);
    let responder = setup.responder_signed_by(
        "delegate",
        &delegate.cert.pem(),
        &delegate.key.serialize_pem(),
    );
    assert!(matches!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Ok(OcspStatus::Revoked {
            reason: Some(RevocationReason::KeyCompromise),
            ..
        })
    ));
    drop(responder);

    let client_only = setup
        .ca
        .issue("not a responder", 0x2002, vec![Eku::ClientAuth]);
    let responder = setup.responder_signed_by(
        "client-only",
        &client_only.cert.pem(),
        &client_only.key.serialize_pem(),
    );
    assert_eq!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Err(OcspError::UnauthorizedResponder {
            responder: "CN=not a responder".into(),
            why: Delegation::NoOcspSigning,
        })
    );
}

#[test]
fn an_expired_delegated_responder_is_refused() {
    let setup = Setup::new();
    let expired = setup.ca.issue_with("expired responder", 0x2003, |p| {
        p.extended_key_usages = vec![Eku::OcspSigning];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let responder =
        setup.responder_signed_by("expired", &expired.cert.pem(), &expired.key.serialize_pem());
    let request = setup.request(&setup.good);
    assert_eq!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Err(OcspError::UnauthorizedResponder {
            responder: "CN=expired responder".into(),
            why: Delegation::OutsideValidity,
        })
    );
}

#[test]
fn a_delegated_responder_without_its_certificate_is_unknown() {
    let setup = Setup::new();
    let delegate = setup
        .ca
        .issue("OCSP responder", 0x2001, vec![Eku::OcspSigning]);
    let cert = write(setup.dir.path(), "delegate.pem", &delegate.cert.pem());
    let key = write(
        setup.dir.path(),
        "delegate.key",
        &delegate.key.serialize_pem(),
    );
    let responder = Responder::start(
        &setup.index,
        &setup.ca_pem,
        &cert,
        &key,
        &["-resp_no_certs"],
    );
    let request = setup.request(&setup.good);
    assert_eq!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Err(OcspError::UnknownResponder {
            responder: "CN=OCSP responder".into(),
        })
    );
}

#[test]
fn the_nonce_must_be_echoed() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    let provider = mtls_core::crypto::default_provider();
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
fn garbage_and_truncated_answers_are_malformed_and_never_panic() {
    let setup = Setup::new();
    let responder = setup.responder(&["-nmin", "60"]);
    let request = setup.request(&setup.good);
    let answer = responder.ask(request.der());
    let now = UnixTime::now();
    assert_eq!(
        verifier().verify(&request, b"garbage", now),
        Err(OcspError::Malformed {
            what: "not a DER SEQUENCE"
        })
    );
    for end in 0..answer.len() {
        let result = verifier().verify(&request, &answer[..end], now);
        assert!(
            matches!(result, Err(OcspError::Malformed { .. })),
            "{end} bytes: {result:?}"
        );
    }
    // Every single-byte corruption is refused or, where it changes nothing read, good.
    for i in 0..answer.len() {
        let mut corrupt = answer.clone();
        corrupt[i] ^= 0x41;
        let result = verifier().verify(&request, &corrupt, now);
        assert!(
            result.is_err() || matches!(result, Ok(OcspStatus::Good { .. })),
            "byte {i}: {result:?}"
        );
    }
    assert_eq!(
        verifier()
            .max_response_len(16)
            .verify(&request, &answer, now),
        Err(OcspError::TooLarge {
            len: answer.len(),
            max: 16
        })
    );
}

#[test]
fn sha256_cert_ids_and_responders_named_by_key() {
    let setup = Setup::new();
    let request = OcspRequest::builder(setup.revoked.cert.der(), setup.ca.der())
        .hash(CertIdHash::Sha256)
        .build()
        .unwrap();
    let revoked = |status| {
        matches!(
            status,
            Ok(OcspStatus::Revoked {
                reason: Some(RevocationReason::KeyCompromise),
                ..
            })
        )
    };
    let responder = setup.responder(&["-nmin", "60", "-resp_key_id"]);
    let answer = responder.ask(request.der());
    assert!(revoked(verifier().verify(
        &request,
        &answer,
        UnixTime::now()
    )));
    drop(responder);

    let delegate = setup
        .ca
        .issue("OCSP responder", 0x2001, vec![Eku::OcspSigning]);
    let cert = write(setup.dir.path(), "delegate.pem", &delegate.cert.pem());
    let key = write(
        setup.dir.path(),
        "delegate.key",
        &delegate.key.serialize_pem(),
    );
    let responder = Responder::start(&setup.index, &setup.ca_pem, &cert, &key, &["-resp_key_id"]);
    let answer = responder.ask(request.der());
    assert!(revoked(verifier().verify(
        &request,
        &answer,
        UnixTime::now()
    )));
}

#[test]
fn a_response_without_a_status_names_what_the_responder_said() {
    let setup = Setup::new();
    let request = setup.request(&setup.good);
    let now = UnixTime::now();
    // OCSPResponse { responseStatus }, as responders send for tryLater and unauthorized.
    for (value, status) in [
        (3, ResponderStatus::TryLater),
        (6, ResponderStatus::Unauthorized),
    ] {
        assert_eq!(
            verifier().verify(&request, &[0x30, 0x03, 0x0a, 0x01, value], now),
            Err(OcspError::Unsuccessful { status })
        );
    }
    // A successful response of a type other than id-pkix-ocsp-basic (here 1.2.3).
    let other_type = [
        0x30, 0x0e, 0x0a, 0x01, 0x00, 0xa0, 0x09, 0x30, 0x07, 0x06, 0x02, 0x2a, 0x03, 0x04, 0x01,
        0x00,
    ];
    assert_eq!(
        verifier().verify(&request, &other_type, now),
        Err(OcspError::UnsupportedResponseType {
            oid: "1.2.3".into()
        })
    );
}

#[test]
fn random_corruptions_of_real_responses_never_panic() {
    let setup = Setup::new();
    let delegate = setup
        .ca
        .issue("OCSP responder", 0x2001, vec![Eku::OcspSigning]);
    let responder = setup.responder_signed_by(
        "delegate",
        &delegate.cert.pem(),
        &delegate.key.serialize_pem(),
    );
    let request = setup.request(&setup.revoked);
    let answer = responder.ask(request.der());
    let now = UnixTime::now();
    // xorshift: deterministic, so a failure replays.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for _ in 0..5_000 {
        let mut corrupt = answer.clone();
        for _ in 0..1 + next() % 4 {
            let i = usize::try_from(next() % answer.len() as u64).unwrap();
            corrupt[i] = u8::try_from(next() & 0xff).unwrap();
        }
        match verifier().verify(&request, &corrupt, now) {
            Ok(OcspStatus::Revoked { .. }) => {}
            Ok(other) => panic!("a corrupted revoked response gave {other:?}"),
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 4_000, "only {refused} corruptions refused");
}
