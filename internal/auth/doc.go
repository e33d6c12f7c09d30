// Package auth authenticates and authorizes calls to dagflow's gRPC
// services and REST API, and writes an audit line for every mutating
// call.
//
// Identities. A caller is either a user or a cluster node:
//
//   - A user presents a bearer token (gRPC metadata "authorization:
//     Bearer TOKEN", HTTP header "Authorization: Bearer TOKEN") listed in
//     the token file, or a verified client certificate whose CN is listed
//     in the certificate mapping file.
//   - A node presents a verified certificate carrying the URI SAN
//     dagflow://node/NAME (see NodeURIPrefix; internal/devca issues such
//     certificates). Only certificates, never tokens, make node
//     identities.
//
// When a bearer token is present it decides the identity, even if a
// client certificate was also presented; an unknown token is rejected,
// never silently replaced by the certificate.
//
// Files. The token file has one "TOKEN USER ROLE[,ROLE...]" per line; the
// certificate mapping file has one "CN USER ROLE[,ROLE...]" per line.
// Fields are separated by blanks, '#' starts a comment, blank lines are
// ignored. Roles are view, submit and admin; each includes the ones
// before it. Tokens are compared in constant time. An Authenticator
// loaded from files re-reads them when they change (Reload, Run), so
// tokens and users can be added and revoked without a restart; a file
// that fails to parse keeps the previous entries in use, and the error
// names the file and line.
//
// Authorization. A Policy maps each gRPC full method name (and each REST
// route pattern) to a Rule: the least user role needed, whether node
// identities may call it, whether it is public (health checks), whether
// it mutates (and is therefore audited), and whether a submit user may
// only act on jobs they own. Methods without a rule are denied.
// DefaultPolicy covers every method of Master, Worker, Executor,
// ShuffleDaemon, ShuffleService and the gRPC health service;
// DefaultHTTPPolicy covers the master's REST routes.
//
// Errors. gRPC calls fail with codes.Unauthenticated ("no bearer token or
// client certificate", "unknown bearer token") or codes.PermissionDenied
// ("user bob (role view) may not call Master/CancelJob (needs submit)");
// HTTP requests get 401 or 403 with a JSON body {"error": "..."}.
package auth
