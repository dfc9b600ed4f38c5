//! Who may sign: the issuer, a delegated responder it issued with id-kp-OCSPSigning (by name
//! or by key, SHA-1 or SHA-256 CertIDs), and every responder that may not.

use super::*;
use mtls_testkit::custom::tlv;

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
fn a_look_alike_responder_certificate_does_not_hide_the_real_one() {
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
    // Same subject, issued by another CA; put first among the response's (unsigned) certs.
    let other = TestCa::new("Other CA");
    let look_alike = other.issue("OCSP responder", 0x2001, vec![Eku::OcspSigning]);
    let tampered = prepend_cert(&answer, look_alike.cert.der());
    assert_ne!(tampered, answer);
    assert!(matches!(
        verifier().verify(&request, &tampered, UnixTime::now()),
        Ok(OcspStatus::Revoked { .. })
    ));
    // Alone, the look-alike is refused.
    let responder = setup.responder_signed_by(
        "look-alike",
        &look_alike.cert.pem(),
        &look_alike.key.serialize_pem(),
    );
    assert_eq!(
        verifier().verify(&request, &responder.ask(request.der()), UnixTime::now()),
        Err(OcspError::UnauthorizedResponder {
            responder: "CN=OCSP responder".into(),
            why: Delegation::NotIssuedByIssuer,
        })
    );
}

/// `response` with `cert` inserted first in the BasicOCSPResponse's certs.
fn prepend_cert(response: &[u8], cert: &[u8]) -> Vec<u8> {
    let (_, outer) = tlv_read(response);
    let (status, rest) = outer.split_at(3);
    let (_, bytes) = tlv_read(rest); // [0] responseBytes
    let (_, bytes) = tlv_read(bytes); // ResponseBytes SEQUENCE
    let (oid, rest) = bytes.split_at(usize::from(bytes[1]) + 2);
    let (_, basic) = tlv_read(rest); // OCTET STRING
    let (_, mut fields) = tlv_read(basic); // BasicOCSPResponse SEQUENCE
    let mut signed = Vec::new();
    for _ in 0..3 {
        let len = tlv_len(fields);
        signed.extend_from_slice(&fields[..len]);
        fields = &fields[len..];
    }
    let (_, certs) = tlv_read(fields); // [0]
    let (_, certs) = tlv_read(certs); // SEQUENCE OF Certificate
    let certs = tlv(0xa0, &tlv(0x30, &[cert, certs].concat()));
    let basic = tlv(0x30, &[signed, certs].concat());
    let bytes = tlv(0x30, &[oid, &tlv(0x04, &basic)].concat());
    tlv(0x30, &[status, &tlv(0xa0, &bytes)].concat())
}

/// The header length and contents of the TLV at the start of `input`.
fn tlv_read(input: &[u8]) -> (usize, &[u8]) {
    let (header, len) = match input[1] {
        n if n < 0x80 => (2, usize::from(n)),
        0x81 => (3, usize::from(input[2])),
        0x82 => (4, usize::from(input[2]) << 8 | usize::from(input[3])),
        other => panic!("length form {other:#x}"),
    };
    (header, &input[header..header + len])
}

/// The whole length of the TLV at the start of `input`.
fn tlv_len(input: &[u8]) -> usize {
    let (header, contents) = tlv_read(input);
    header + contents.len()
}
