#!/bin/sh
# Writes the throw-away PKI the example configurations in this folder name, into DIR
# (default: the current directory). Needs OpenSSL 3. Never commit what it writes.
#
#   ./generate-pki.sh /tmp/mtls-examples
#   cp *.yaml /tmp/mtls-examples/ && cd /tmp/mtls-examples
#   mtls-gateway run --config agc-frontend-mtls.yaml
#
# Files (every leaf is ECDSA P-256, signed directly by its root, valid 365 days):
#   ca.pem                          the trusted root: signs servers and clients
#   crl.pem                         ca.pem's CRL; revokes revoked.pem
#   server.pem / .key               server: DNS localhost, IP 127.0.0.1
#   client.pem / .key               client: URI spiffe://example.org/ns/default/sa/web
#   revoked.pem / .key              client, revoked in crl.pem
#   helloworld.pem / .key           server: DNS helloworld.example.com
#   secrets/httpbin-credential/     a Kubernetes TLS secret as mounted: tls.crt, tls.key
#                                   (DNS httpbin.example.com) and ca.crt (= ca.pem)
#   aks-ingress.pem / .key          the mTLS upstream: DNS aks-ingress.internal.example
#   apim-gateway.pem / .key         the gateway's own client certificate for that upstream:
#                                   URI spiffe://example.org/ns/apim/sa/gateway
#   ingress-nginx.pem / .key        client: DNS ingress-nginx.ingress-ns.cluster.local
#   other.pem / .key                client: DNS bookbuyer.bookbuyer.cluster.local
#   untrusted-ca.pem                an unrelated root nobody trusts
#   untrusted.pem / .key            client of untrusted-ca.pem: DNS ingress-nginx.ingress-ns.cluster.local
set -eu
dir=${1:-.}
mkdir -p "$dir/.pki" "$dir/secrets/httpbin-credential"
cd "$dir"

cat > .pki/openssl.cnf <<'CNF'
[ca]
default_ca = root
[root]
database = .pki/index.txt
crlnumber = .pki/crlnumber
default_md = sha256
default_crl_days = 30
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# root STEM NAME: a self-signed CA, key kept in .pki/
root() {
    newkey ".pki/$1.key"
    openssl req -x509 -new -key ".pki/$1.key" -subj "/O=mtls example/CN=$2" -days 3650 \
        -config .pki/openssl.cnf -extensions v3_ca -out "$1.pem"
}

# leaf STEM CA EKU SAN: a leaf signed by CA (a root written by `root`)
leaf() {
    newkey "$1.key"
    openssl req -new -key "$1.key" -subj "/O=mtls example/CN=$1" -config .pki/openssl.cnf \
        -out ".pki/$1.csr"
    printf '%s\n' "basicConstraints = critical, CA:FALSE" \
        "keyUsage = critical, digitalSignature" \
        "extendedKeyUsage = $3" \
        "subjectAltName = $4" \
        "authorityKeyIdentifier = keyid" > ".pki/$1.ext"
    openssl x509 -req -in ".pki/$1.csr" -CA "$2.pem" -CAkey ".pki/$2.key" -CAcreateserial -CAserial ".pki/$2.srl" \
        -days 365 -extfile ".pki/$1.ext" -out "$1.pem" 2>/dev/null
}

root ca "mtls example root CA"
root untrusted-ca "an unrelated root CA"

leaf server ca serverAuth "DNS:localhost, IP:127.0.0.1"
leaf helloworld ca serverAuth "DNS:helloworld.example.com"
leaf httpbin ca serverAuth "DNS:httpbin.example.com"
leaf aks-ingress ca serverAuth "DNS:aks-ingress.internal.example"
leaf client ca clientAuth "URI:spiffe://example.org/ns/default/sa/web"
leaf revoked ca clientAuth "URI:spiffe://example.org/ns/default/sa/stolen"
leaf apim-gateway ca clientAuth "URI:spiffe://example.org/ns/apim/sa/gateway"
leaf ingress-nginx ca clientAuth "DNS:ingress-nginx.ingress-ns.cluster.local"
leaf other ca clientAuth "DNS:bookbuyer.bookbuyer.cluster.local"
leaf untrusted untrusted-ca clientAuth "DNS:ingress-nginx.ingress-ns.cluster.local"

# The Istio-style secret: what `kubectl create secret generic httpbin-credential
# --from-file=tls.crt=httpbin.pem --from-file=tls.key=httpbin.key --from-file=ca.crt=ca.pem`
# looks like once mounted (without the kubelet's ..data symlinks, which the gateway also reads).
mv httpbin.pem secrets/httpbin-credential/tls.crt
mv httpbin.key secrets/httpbin-credential/tls.key
cp ca.pem secrets/httpbin-credential/ca.crt

# The CRL: revoke revoked.pem.
: > .pki/index.txt
echo 01 > .pki/crlnumber
openssl ca -config .pki/openssl.cnf -keyfile .pki/ca.key -cert ca.pem -revoke revoked.pem \
    -crl_reason keyCompromise 2>/dev/null
openssl ca -config .pki/openssl.cnf -keyfile .pki/ca.key -cert ca.pem -gencrl -out crl.pem \
    2>/dev/null

echo "PKI written to $(pwd)"
