//! Cluster updates are compiled and swapped in off the runtime, one at a time and in order:
//! two renewals in quick succession (the second arriving while the first is built) end with
//! the newer certificate served, and no update applied after it puts the older one back.

use super::*;

/// The certificate chain (PEM) of `web-cred` that `update` carries.
fn served_chain(update: &Update) -> Vec<u8> {
    update
        .secrets
        .resolve(&reference("web-cred", Some("tls.crt")))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_quick_updates_end_with_the_newer() {
    install_crypto_provider();
    let pki = Arc::new(mtls_testkit::Pki::new());
    let issue = || pki.server_for(&["web.example.com"]).issue();
    let (one, two, three) = (issue(), issue(), issue());
    let port = free_port();
    let api = FakeApiServer::start().await.unwrap();
    cluster(&api, &pki, &one, port);
    let mut following = start_following(&api, args(None, None));
    let p = Arc::clone(&pki);
    let served = eventually("a handshake", move || handshake(port, &p).ok()).await;
    assert_eq!(&served, one.cert_der());
    let first = following.next_after(0).await;

    // Two renewals, further apart than the debounce (50 ms): two updates, the second built
    // while the first may still be compiling.
    api.apply(credential(&two));
    tokio::time::sleep(Duration::from_millis(120)).await;
    api.apply(credential(&three));
    let (p, want) = (Arc::clone(&pki), three.cert_der().clone());
    eventually("the newer certificate", move || {
        handshake(port, &p).ok().filter(|c| *c == want)
    })
    .await;
    let last = following.last();
    assert!(last.generation > first.generation);
    assert_eq!(served_chain(&last), three.chain_pem().into_bytes());

    // Settled on the newer one: a later look still finds it, and the last update applied is
    // the newer one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = Arc::clone(&pki);
    let still = tokio::task::spawn_blocking(move || handshake(port, &p))
        .await
        .unwrap();
    assert_eq!(still.as_ref(), Ok(three.cert_der()));
    assert_eq!(
        served_chain(&following.last()),
        three.chain_pem().into_bytes()
    );
    following.stop().await;
}
