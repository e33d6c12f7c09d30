// Package tlsconfig builds mutual-TLS configurations for dagflow's gRPC
// and HTTP endpoints from PEM files (--tls-cert, --tls-key, --tls-ca),
// and reloads them when the files change so certificates and the CA
// bundle rotate without a restart.
//
// A Reloader holds the current key pair and CA pool behind an atomic
// pointer. Server configurations read them in GetConfigForClient and
// client configurations in GetClientCertificate and VerifyConnection, so
// every new handshake sees the latest files while established connections
// keep the certificates they were made with. Run polls the files (by
// content) at an interval; a new file that does not parse, or a key that
// does not match its certificate, is logged and the previous material
// stays in use.
//
// TLS 1.3 is the minimum version: its cipher suites are all AEAD with
// forward secrecy and are not configurable. Servers require and verify a
// client certificate by default (mutual TLS); clients verify the server
// against the CA bundle and the dialled host name or IP.
package tlsconfig
