//! Answers that are not a status: responder errors, other response types, garbage,
//! truncations and corruptions of real responses.

use super::*;

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
