#!/bin/sh
# tls_certs.sh DIR: make the test PKI of the tls+tcp tests in DIR with the
# openssl command line (P-256 keys, valid for a day):
#   ca.pem                  the trusted test CA
#   server.pem  (+key)      SAN DNS:localhost, IP:127.0.0.1, signed by ca
#   client.pem  (+key)      a client certificate signed by ca
#   evilca.pem              a second CA nobody trusts
#   evil.pem    (+key)      SAN DNS:localhost, IP:127.0.0.1, signed by evilca
# Each *.pem with a key holds the certificate then the key; *.crt and
# *.key hold them apart (for NNG's own API).
set -eu
d=$1
mkdir -p "$d"
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 1 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$1.pem" 2>/dev/null
}
leaf() { # name subject ca san
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 1 \
    -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  cat "$1.crt" "$1.key" > "$1.pem"
}
ca ca "femtomsg test CA"
ca evilca "untrusted test CA"
leaf server localhost ca "DNS:localhost,IP:127.0.0.1"
leaf client "femtomsg test client" ca "DNS:client.test"
leaf evil localhost evilca "DNS:localhost,IP:127.0.0.1"
