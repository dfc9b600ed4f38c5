//! Regenerates the committed seed corpora under `fuzz/corpus/<target>/` from a fresh testkit
//! PKI: valid inputs the fuzzer mutates from. Ignored by default (the seeds are committed);
//! run it after changing what a seed should hold:
//!
//! ```text
//! cargo test -p mtls-fuzz-replay --test corpus -- --ignored
//! ```
//!
//! Only files named `seed-*` are written (and stale ones removed), so inputs a fuzzing run
//! added by hand stay. Each seed is a few KB at most.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mtls_testkit::{KeyAlg, Pki};
use rustls::pki_types::PrivateKeyDer;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
}

fn write(target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (name, data) in seeds {
        assert!(
            data.len() <= 8 * 1024,
            "{target}/{name} is {} bytes",
            data.len()
        );
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}

fn secret(keys: &[(&str, &[u8])]) -> Vec<u8> {
    let mut mask = 0u16;
    let map: BTreeMap<usize, &[u8]> = keys
        .iter()
        .map(|(k, v)| {
            let i = mtls_fuzz_replay::SECRET_KEYS
                .iter()
                .position(|n| n == k)
                .unwrap();
            mask |= 1 << i;
            (i, *v)
        })
        .collect();
    let mut out = mask.to_le_bytes().to_vec();
    let values: Vec<&[u8]> = map.into_values().collect();
    out.extend(values.join(&0u8));
    out
}

/// The bytes a TLS 1.2 client sends in a full handshake presenting `client` (its Certificate
/// message is plaintext in TLS 1.2, so a replay reaches the client-certificate verifier).
fn tls12_client_flight(pki: &Pki, client: &mtls_testkit::Leaf) -> Vec<u8> {
    use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
    let provider = mtls_verify::crypto::default_provider();
    let server = pki.server_for(&["api.example.com"]).issue();
    let verifier = mtls_testkit::tls::webpki_verifier(pki, &[]);
    let server_config: Arc<ServerConfig> = mtls_testkit::tls::server_config(&server, verifier);
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(pki.root_store())
        .with_client_auth_cert(client.chain_der(), client.key_der())
        .unwrap();
    let mut c = ClientConnection::new(
        Arc::new(client_config),
        "api.example.com".try_into().unwrap(),
    )
    .unwrap();
    let mut s = ServerConnection::new(server_config).unwrap();
    let mut flight = Vec::new();
    for _ in 0..10 {
        let mut to_server = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut to_server).unwrap();
        }
        flight.extend_from_slice(&to_server);
        s.read_tls(&mut to_server.as_slice()).unwrap();
        s.process_new_packets().unwrap();
        let mut to_client = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut to_client).unwrap();
        }
        c.read_tls(&mut to_client.as_slice()).unwrap();
        c.process_new_packets().unwrap();
        if !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
    }
    flight
}

fn client_hello(pki: &Pki, alpn: &[&[u8]], name: &str) -> Vec<u8> {
    let mut config = (*mtls_testkit::tls::client_config(pki, None)).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name.to_owned().try_into().unwrap())
            .unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

#[test]
#[ignore = "regenerates the committed seeds; run by hand"]
fn regenerate_corpus() {
    let pki = Pki::new();
    let ed = Pki::with_alg(KeyAlg::Ed25519);
    let server = pki
        .server_for(&["api.example.com", "*.example.org"])
        .issue();
    let client = pki
        .client()
        .uri("spiffe://cluster.local/ns/default/sa/web")
        .dns("web.example.com")
        .ip("10.0.0.1".parse().unwrap())
        .email("ops@example.com")
        .issue();
    let plain_client = pki.client().issue();
    let ed_client = ed.client().uri("spiffe://example.org/ns/a/sa/b").issue();
    let root_pem = pki.root().cert_pem();
    let inter_pem = pki.intermediate().cert_pem();

    write(
        "pem_chain",
        &[
            ("server-chain.pem", server.chain_pem().into_bytes()),
            (
                "commented.pem",
                format!("# leaf\n{}junk between\n{}", client.cert_pem(), inter_pem).into_bytes(),
            ),
            ("leaf.der", client.cert_der().to_vec()),
            ("ed25519.pem", ed_client.chain_pem().into_bytes()),
        ],
    );

    let key_der = |k: PrivateKeyDer<'_>| k.secret_der().to_vec();
    let mut keys = vec![
        ("pkcs8.pem", server.key_pem().into_bytes()),
        ("pkcs8.der", key_der(server.key_der())),
        ("ed25519.pem", ed_client.key_pem().into_bytes()),
    ];
    if let Some(sec1) = server.key().sec1_pem() {
        keys.push(("sec1.pem", sec1.into_bytes()));
    }
    write("private_key", &keys);

    write(
        "ca_bundle",
        &[
            ("root.pem", root_pem.clone().into_bytes()),
            (
                "bundle.pem",
                format!("Root\n{root_pem}\nIntermediate\n{inter_pem}{root_pem}").into_bytes(),
            ),
            ("root.der", pki.root().cert_der().to_vec()),
            ("ed25519.pem", ed.root().cert_pem().into_bytes()),
        ],
    );

    let crls = pki.crls().revoke(&client).revoke_intermediate().build();
    let empty = pki.crls().build();
    write(
        "crl_set",
        &[
            ("revoked.pem", crls.pem().into_bytes()),
            ("empty.pem", empty.pem().into_bytes()),
            ("intermediate.der", crls.intermediate().der().to_vec()),
        ],
    );

    write(
        "peer_identity",
        &[
            ("client-all-sans.der", client.cert_der().to_vec()),
            ("client-no-san.der", plain_client.cert_der().to_vec()),
            ("server.der", server.cert_der().to_vec()),
            ("ed25519.der", ed_client.cert_der().to_vec()),
            ("intermediate.der", pki.intermediate().cert_der().to_vec()),
        ],
    );

    let chain = server.chain_pem();
    let key = server.key_pem();
    let crl = crls.pem();
    write(
        "secret_map",
        &[
            (
                "kubernetes-tls",
                secret(&[
                    ("tls.crt", chain.as_bytes()),
                    ("tls.key", key.as_bytes()),
                    ("ca.crt", root_pem.as_bytes()),
                    ("ca.crl", crl.as_bytes()),
                ]),
            ),
            (
                "istio-generic",
                secret(&[
                    ("cert", chain.as_bytes()),
                    ("key", key.as_bytes()),
                    ("cacert", root_pem.as_bytes()),
                ]),
            ),
            ("istio-cacert", secret(&[("cacert", root_pem.as_bytes())])),
            (
                "ca-only",
                secret(&[("ca.crt", root_pem.as_bytes()), ("other", b"x")]),
            ),
            (
                "mixed-layouts",
                secret(&[("tls.crt", chain.as_bytes()), ("cert", chain.as_bytes())]),
            ),
        ],
    );

    let policies: Vec<(&str, String)> = vec![
        ("layer.yaml", LAYER_POLICY.to_owned()),
        (
            "plaintext.yaml",
            mtls_fuzz_replay::PLAINTEXT_POLICY.to_owned(),
        ),
        (
            "inline-ca.yaml",
            format!(
                "listeners:\n  - name: public\n    port: 8443\n    peer_mode: strict\n    hosts:\n      - hostnames: [api.example.com]\n        client_validation:\n          mode: required\n          trust:\n            - name: clients\n              max_chain_depth: 3\n              crl: {{ sources: [{{ file: /unused/crl.pem }}], unknown_status: deny }}\n              ca: [{{ pem: \"{}\" }}]\n        routes:\n          - path_prefix: /\n            authorization: {{ principals: [\"spiffe://cluster.local/ns/default/sa/web\"] }}\n",
                root_pem.replace('\n', "\\n")
            ),
        ),
    ];
    let mut yaml = Vec::new();
    let mut json = Vec::new();
    for (name, text) in &policies {
        let policy = mtls_policy::Policy::from_yaml(text)
            .unwrap_or_else(|e| panic!("seed {name} does not load: {e}"));
        yaml.push((*name, text.clone().into_bytes()));
        json.push((*name, serde_json::to_vec_pretty(policy.config()).unwrap()));
    }
    let json: Vec<(String, Vec<u8>)> = json
        .into_iter()
        .map(|(n, v)| (n.replace(".yaml", ".json"), v))
        .collect();
    write(
        "policy_yaml",
        &yaml
            .iter()
            .map(|(n, v)| (*n, v.clone()))
            .collect::<Vec<_>>(),
    );
    write(
        "policy_json",
        &json
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    );

    let id = mtls_core::PeerIdentity::from_der(client.cert_der()).unwrap();
    let element = mtls_tower::layer::XfccConfig::default()
        .by("spiffe://cluster.local/ns/istio-system/sa/gateway")
        .cert(true)
        .element(&id, &[]);
    write(
        "xfcc",
        &[
            ("ours", element.to_string().into_bytes()),
            (
                "envoy-doc",
                br#"By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com"#.to_vec(),
            ),
            (
                "two-elements",
                br#"By=spiffe://a/gw;Hash=ab12;URI=spiffe://a/x,hash=cd34;DNS=x.example;Subject="CN=say \"hi\", O=\\x";Extra= v "#.to_vec(),
            ),
        ],
    );

    write(
        "forward_headers",
        &[
            (
                "forged",
                b"\x03x-forwarded-client-cert: Hash=00;URI=spiffe://evil\nClient-Cert: :AAAA:\nclient_cert_chain: :AA:\nssl-client-verify: SUCCESS\nX-SSL-Client-S-DN: CN=admin\nssl_client_subject_dn: CN=root\nhost: api.example.com\naccept: */*\n".to_vec(),
            ),
            ("anonymous", b"\x00x-forwarded-client-cert: By=x\nuser-agent: curl\n".to_vec()),
        ],
    );

    let mut hello = vec![255u8];
    hello.extend(client_hello(&pki, &[b"h2", b"http/1.1"], "api.example.com"));
    let mut trickled = vec![0u8];
    trickled.extend(client_hello(&pki, &[], "unknown.example.net"));
    let mut flight = vec![255u8];
    flight.extend(tls12_client_flight(&pki, &client));
    write(
        "client_hello",
        &[
            ("tls13-alpn", hello),
            ("one-byte-segments", trickled),
            ("tls12-client-cert-flight", flight),
        ],
    );

    let h2_preface =
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec();
    write(
        "plaintext_http",
        &[
            (
                "get-admin",
                b"GET /admin HTTP/1.1\r\nHost: api.example.com\r\n\r\n".to_vec(),
            ),
            (
                "dot-segments",
                b"GET /public/../admin/%2e%2e/admin//x HTTP/1.1\r\nHost: api.example.com:8080\r\nx-forwarded-client-cert: URI=spiffe://example.org/ns/prod/sa/ops\r\n\r\n".to_vec(),
            ),
            (
                "pipelined",
                b"GET / HTTP/1.1\r\nHost: other\r\n\r\nPOST /public HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 3\r\n\r\nabcGET /admin HTTP/1.0\r\n\r\n".to_vec(),
            ),
            ("h2-preface", h2_preface),
        ],
    );

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mtls-kube/tests/fixtures");
    let mut manifests = Vec::new();
    for name in [
        "istio-gateway-mutual.yaml",
        "gateway-api-frontend-validation.yaml",
        "nginx-auth-tls.yaml",
        "osm-ingress-backend.yaml",
        "agc-frontend-mtls.yaml",
        "peer-authentication.yaml",
    ] {
        manifests.push((name, std::fs::read(fixtures.join(name)).unwrap()));
    }
    let secret_manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{ name: httpbin-credential, namespace: istio-system }}\ntype: kubernetes.io/tls\nstringData:\n  ca.crt: |\n{}",
        root_pem
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    manifests.push(("secret.yaml", secret_manifest.into_bytes()));
    write("kube_manifests", &manifests);

    let chain_veto: Vec<(&str, Vec<u8>)> = mtls_fuzz_replay::CHAIN_VETO_SEEDS
        .iter()
        .map(|(name, data)| (*name, data.to_vec()))
        .collect();
    write("chain_veto", &chain_veto);
}

/// Many listeners, answers, audit, routes (from mtls-tower's layer tests).
const LAYER_POLICY: &str = r#"
listeners:
  - name: public
    port: 8443
    hosts:
      - hostnames: [api.example.com, "*.example.org"]
        client_validation:
          mode: required
          trust: [{ name: test, ca: [{ file: /unused/ca.pem }] }]
        routes:
          - path_prefix: /admin
            authorization: { principals: ["spiffe://example.org/ns/prod/sa/ops"] }
          - path_prefix: /audited
            authorization: { principals: ["spiffe://example.org/ns/prod/sa/ops"], audit: true }
          - path_prefix: /
      - hostnames: [other.example.com]
        client_validation:
          mode: optional
          trust: [{ name: test, ca: [{ file: /unused/ca.pem }] }]
  - name: json
    port: 9443
    answers:
      identity_not_allowed: { http: { status: 403, format: problem_json } }
    hosts:
      - client_validation:
          mode: required
          trust: [{ name: test, ca: [{ file: /unused/ca.pem }] }]
        routes:
          - path_prefix: /
            authorization: { principals: ["spiffe://example.org/ns/prod/sa/ops"] }
  - name: audited
    port: 7443
    audit: true
    peer_mode: permissive
    hosts:
      - client_validation:
          mode: required
          trust: [{ name: test, ca: [{ file: /unused/ca.pem }] }]
"#;
