//! Reloads with real clients on 127.0.0.1: a resumed session never outlives a CRL change;
//! reloading under load fails no legitimate handshake or established connection and refuses a
//! newly revoked certificate on its next handshake; with the option on, the open connections of
//! a newly revoked certificate are closed (gracefully, within a deadline), the others' are not.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_core::{CaBundle, CrlSet};
use mtls_testkit::{Leaf, Pki};
use mtls_tower::tls::{DomainOptions, LoadedTrustDomain, PolicyVerifier};
use mtls_tower::{Acceptor, HostTls, TlsSnapshot};
use rustls::HandshakeKind;
use rustls_pki_types::ServerName;
use support::{Counters, LIMIT, credential, keep_alive_get, provider, read_until_closed, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

/// A snapshot serving `localhost`, requiring client certs of `pki`, with `crls` (PEM) if any.
fn snapshot(pki: &Pki, crls: Option<&str>) -> TlsSnapshot {
    let provider = provider();
    let bundle = CaBundle::from_bytes(pki.root().cert_pem().as_bytes(), "ca").unwrap();
    let crls = crls.map(|pem| CrlSet::from_bytes(pem.as_bytes(), "crl").unwrap());
    let domain = LoadedTrustDomain::new(
        "clients",
        bundle,
        crls.as_ref(),
        DomainOptions::default(),
        &provider,
    )
    .unwrap();
    let verifier = PolicyVerifier::builder(Arc::clone(&provider))
        .trust_domain(domain)
        .build()
        .unwrap();
    TlsSnapshot::builder(provider)
        .host(
            HostTls::new(["localhost"], credential(pki.default_server()))
                .client_verifier(Arc::new(verifier)),
        )
        .build()
        .unwrap()
}

/// The client was refused with the `certificate_revoked` alert.
fn assert_revoked(outcome: std::io::Result<(HandshakeKind, String)>) {
    match outcome {
        Err(e) => assert!(
            e.to_string().contains("CertificateRevoked") || e.to_string().contains("revoked"),
            "{e}"
        ),
        Ok((kind, response)) => panic!("revoked client got through ({kind:?}): {response}"),
    }
}

#[tokio::test]
async fn a_resumed_session_does_not_survive_a_crl_update() {
    let pki = Pki::shared();
    let client = pki.client().uri("spiffe://td/ns/a/sa/soon-revoked").issue();
    let clean_crls = pki.crls().build().pem();
    let server = start(Acceptor::new(snapshot(pki, Some(&clean_crls)))).await;
    // One client config = one session cache: the second connection offers the first's ticket.
    let config = support::client(pki, Some(&client));

    let (kind, response) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Full);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Without a reload, the session resumes: the check below can fail for the right reason.
    let (kind, response) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert_eq!(kind, HandshakeKind::Resumed, "{response}");

    // The client is revoked; the new snapshot's fresh session state forces a full handshake,
    // in which the verifier sees the new CRL.
    let revoking = pki.crls().revoke(&client).build().pem();
    server.acceptor.reload(snapshot(pki, Some(&revoking)));
    assert_revoked(support::request_once(server.addr, Arc::clone(&config)).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_fails_no_legitimate_connection() {
    let pki = Pki::shared();
    let client = pki.client().uri("spiffe://td/ns/a/sa/steady").issue();
    // A client revoked by the last reload: its next handshake must be refused.
    let victim = pki.client().uri("spiffe://td/ns/a/sa/victim").issue();
    // CRLs change with every reload: none revoking, and one revoking a bystander.
    let bystander = pki.client().uri("spiffe://td/ns/a/sa/bystander").issue();
    let clean_crls = pki.crls().build().pem();
    let bystander_crls = pki.crls().revoke(&bystander).build().pem();
    let victim_crls = pki.crls().revoke(&victim).build().pem();
    // Revoked connections are closed: every open connection is rechecked at every reload, and
    // none of the legitimate ones may be closed by it.
    let server = start(
        Acceptor::new(snapshot(pki, Some(&clean_crls)))
            .close_revoked_connections(Duration::from_secs(1)),
    )
    .await;
    let config = support::client(pki, Some(&client));

    // An established keep-alive connection that must survive every reload, and one of the
    // victim that must not survive the last.
    let mut kept = connect(server.addr, Arc::clone(&config)).await;
    let mut victim_kept = connect(server.addr, support::client(pki, Some(&victim))).await;
    let response = keep_alive_get(&mut victim_kept, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (failures, done, stop) = (Arc::clone(&failures), Arc::clone(&done), Arc::clone(&stop));
        let (config, addr) = (Arc::clone(&config), server.addr);
        load.push(tokio::spawn(async move {
            // Bounded in count as well as by the reloads below.
            for _ in 0..2_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match support::request_once(addr, Arc::clone(&config)).await {
                    Ok((_, r)) if r.starts_with("HTTP/1.1 200") => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // 1,000 reloads (CA bundle, CRLs and server certificate rebuilt each time) under that
    // load; the established connection is used (kept alive) along the way.
    let reloads = 1_000;
    for i in 0..reloads {
        let crls = match i {
            _ if i == reloads - 1 => &victim_crls,
            _ if i % 2 == 0 => &clean_crls,
            _ => &bystander_crls,
        };
        server.acceptor.reload(snapshot(pki, Some(crls)));
        if i % 100 == 50 {
            let response = keep_alive_get(&mut kept, "/").await.unwrap();
            assert!(
                response.starts_with("HTTP/1.1 200"),
                "reload {i}: {response}"
            );
        }
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    }
    let handshakes = done.load(Ordering::Relaxed);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "{handshakes} handshakes, {reloads} reloads"
    );
    assert!(
        handshakes >= 20,
        "too little load during the reloads: {handshakes}"
    );
    assert_eq!(server.acceptor.generation(), reloads);

    // The victim's open connection was closed; the certificate the last CRL revoked is
    // refused on its next handshake; the load's client is still served.
    assert!(
        closed_within(&mut victim_kept, LIMIT).await.is_some(),
        "the victim's connection was closed"
    );
    let refused = support::request_once(server.addr, support::client(pki, Some(&victim))).await;
    assert_revoked(refused);
    let (_, response) = support::request_once(server.addr, Arc::clone(&config))
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // The kept connection still works after all of them.
    kept.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    kept.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.stop().await;
}

/// Opens a TLS connection (HTTP/1.1 over ALPN) and keeps it.
async fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsStream<TcpStream> {
    tokio::time::timeout(LIMIT, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    })
    .await
    .expect("connected in time")
}

/// Waits (bounded) for the server to close the connection: EOF or a reset. Returns how long it
/// took, or `None` when it stayed open for `within`.
async fn closed_within(tls: &mut TlsStream<TcpStream>, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(within, async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    closed.ok().map(|()| started.elapsed())
}

/// An HTTP/2 connection (ALPN h2) of `client`: the request sender and the connection task,
/// which ends when the server closes the connection.
async fn connect_h2(
    addr: SocketAddr,
    pki: &Pki,
    client: &Leaf,
) -> (
    hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let mut config = (*mtls_testkit::tls::client_config(pki, Some(client))).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tls = connect(addr, Arc::new(config)).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    (send, tokio::spawn(conn))
}

async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
) -> hyper::Result<StatusCode> {
    let req = Request::get("https://localhost/")
        .body(Empty::new())
        .unwrap();
    tokio::time::timeout(LIMIT, send.send_request(req))
        .await
        .expect("answered in time")
        .map(|r| r.status())
}

/// The support echo service; `/slow/{ms}` answers after `ms` milliseconds.
async fn slow_echo(req: Request<hyper::body::Incoming>) -> Result<Response<String>, Infallible> {
    let delay = req
        .uri()
        .path()
        .strip_prefix("/slow/")
        .and_then(|ms| ms.parse().ok());
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    support::echo(req).await
}

/// Serves [`slow_echo`] through `acceptor` until the returned sender is dropped or used.
struct SlowServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SlowServer {
    /// Stops the server and checks that `serve_with_grace` returned cleanly, in time.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(LIMIT, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

async fn start_slow(acceptor: Acceptor) -> SlowServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mtls_tower::serve_with_grace(
        listener,
        acceptor,
        tower::service_fn(slow_echo),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(2),
    ));
    SlowServer { addr, stop, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_option_on_open_connections_of_a_newly_revoked_certificate_are_closed() {
    let pki = Pki::shared();
    let a = pki
        .client()
        .uri("spiffe://td/ns/a/sa/revoked-later")
        .issue();
    let b = pki.client().uri("spiffe://td/ns/b/sa/stays").issue();
    let grace = Duration::from_secs(5);
    let counters = Counters::default();
    let acceptor = metrics::with_local_recorder(&counters, || {
        Acceptor::new(snapshot(pki, Some(&pki.crls().build().pem())))
            .close_revoked_connections(grace)
    });
    let server = start_slow(acceptor.clone()).await;
    let addr = server.addr;

    // A: an idle HTTP/1.1 connection, an HTTP/1.1 connection with a request in flight across
    // the reload, and an idle HTTP/2 connection. B: an idle HTTP/1.1 connection.
    let mut a_idle = connect(addr, support::client(pki, Some(&a))).await;
    let mut a_busy = connect(addr, support::client(pki, Some(&a))).await;
    let (mut a_h2, a_h2_conn) = connect_h2(addr, pki, &a).await;
    let mut b_idle = connect(addr, support::client(pki, Some(&b))).await;
    for (who, tls) in [("a", &mut a_idle), ("a", &mut a_busy), ("b", &mut b_idle)] {
        let response = keep_alive_get(tls, "/").await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{who}: {response}");
    }
    assert_eq!(h2_get(&mut a_h2).await.unwrap(), StatusCode::OK);

    // A request that takes 1 s is in flight on a_busy when A is revoked.
    a_busy
        .write_all(b"GET /slow/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reloaded = Instant::now();
    acceptor.reload(snapshot(pki, Some(&pki.crls().revoke(&a).build().pem())));

    // Idle connections of A: closed at once (well within the grace period).
    let took = closed_within(&mut a_idle, LIMIT)
        .await
        .expect("a_idle closed");
    assert!(
        took < Duration::from_secs(2),
        "a_idle closed after {took:?}"
    );
    let ended = tokio::time::timeout(LIMIT, a_h2_conn).await;
    assert!(ended.is_ok(), "the HTTP/2 connection of A ended");
    let took = reloaded.elapsed();
    assert!(took < Duration::from_secs(2), "a_h2 ended after {took:?}");
    assert!(
        h2_get(&mut a_h2).await.is_err(),
        "no new request on the HTTP/2 connection of A"
    );
    // The request in flight finishes; then the connection closes, without a second request.
    let (in_flight, _) = read_until_closed(&mut a_busy)
        .await
        .expect("a_busy closed after its request");
    let in_flight = String::from_utf8_lossy(&in_flight);
    assert!(in_flight.starts_with("HTTP/1.1 200"), "{in_flight}");
    assert!(
        reloaded.elapsed() < grace,
        "closed after the in-flight request, before the deadline: {:?}",
        reloaded.elapsed()
    );
    assert!(keep_alive_get(&mut a_busy, "/").await.is_err());

    // B's connection is untouched and still serves requests.
    let response = keep_alive_get(&mut b_idle, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(
        counters.get("mtls_connections_closed_revoked_total"),
        Some(3),
        "three connections of A closed"
    );

    // A's next handshake is refused.
    assert_revoked(support::request_once(addr, support::client(pki, Some(&a))).await);
    server.shutdown().await;
}

#[tokio::test]
async fn a_revoked_connection_still_busy_after_the_grace_period_is_dropped() {
    let pki = Pki::shared();
    let a = pki
        .client()
        .uri("spiffe://td/ns/a/sa/slow-and-revoked")
        .issue();
    let grace = Duration::from_millis(300);
    let acceptor = Acceptor::new(snapshot(pki, Some(&pki.crls().build().pem())))
        .close_revoked_connections(grace);
    let server = start_slow(acceptor.clone()).await;
    let addr = server.addr;
    let mut busy = connect(addr, support::client(pki, Some(&a))).await;
    busy.write_all(b"GET /slow/5000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    acceptor.reload(snapshot(pki, Some(&pki.crls().revoke(&a).build().pem())));
    let started = Instant::now();
    let (got, closed) = read_until_closed(&mut busy).await.expect("closed in time");
    let took = closed - started;
    // Dropped at the deadline, before the 5 s answer.
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(
        took >= grace - Duration::from_millis(50) && took < Duration::from_secs(2),
        "closed after {took:?}, grace {grace:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn with_the_option_off_open_connections_of_a_revoked_certificate_stay_open() {
    let pki = Pki::shared();
    let a = pki
        .client()
        .uri("spiffe://td/ns/a/sa/revoked-but-open")
        .issue();
    let acceptor = Acceptor::new(snapshot(pki, Some(&pki.crls().build().pem())));
    assert_eq!(acceptor.revoked_connection_grace(), None);
    let server = start_slow(acceptor.clone()).await;
    let addr = server.addr;
    let mut a_idle = connect(addr, support::client(pki, Some(&a))).await;
    let response = keep_alive_get(&mut a_idle, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    acceptor.reload(snapshot(pki, Some(&pki.crls().revoke(&a).build().pem())));
    // The reload took effect: A's next handshake is refused...
    assert_revoked(support::request_once(addr, support::client(pki, Some(&a))).await);
    // ...but its open connection was not closed, and serves.
    assert_eq!(
        closed_within(&mut a_idle, Duration::from_millis(500)).await,
        None
    );
    let response = keep_alive_get(&mut a_idle, "/").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.shutdown().await;
}
