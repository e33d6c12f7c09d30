// Package devca is a small, development-grade certificate authority for
// dagflow clusters: it creates a CA (ECDSA P-256), node certificates
// (server and client auth, DNS and IP SANs, and the node identity URI
// dagflow://node/NAME) and user client certificates (CN = user name,
// client auth only).
//
// It is meant for test clusters, laptops and CI. It keeps the CA key in
// a plain 0600 file, has no revocation, no audit trail and no hardware
// protection; production clusters should use their own PKI and point
// --tls-ca/--tls-cert/--tls-key at its files.
//
// The core (NewCA, CA.IssueNode, CA.IssueClient) is pure: it returns PEM
// bytes and takes the clock and the serial-number randomness from
// Options. InitDir, LoadDir and WritePair put the results on disk.
package devca
