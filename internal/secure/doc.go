// Package secure bundles what a dagflow daemon needs to speak mutual TLS
// and check callers: the certificate Reloader of internal/tlsconfig, the
// gRPC dial and server options built from it, and the rule that a daemon
// without TLS only listens on loopback unless told --insecure.
//
// A nil *Node means TLS is off: its methods then return plaintext dial
// options and no server options, so daemons behave as before security
// was wired in.
package secure
