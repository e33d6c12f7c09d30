package auth

import (
	"context"
	"log/slog"
)

// Audit writes one line per mutating call.
type Audit struct {
	log *slog.Logger
}

// NewAudit returns an audit logger writing to log (nil: slog.Default()).
// Daemons typically pass a logger whose handler writes to a dedicated
// file or adds a "log=audit" attribute.
func NewAudit(log *slog.Logger) *Audit {
	if log == nil {
		log = slog.Default()
	}
	return &Audit{log: log}
}

// Entry is one audited call.
type Entry struct {
	// Who is the caller; zero if authentication failed.
	Who Identity
	// What is the short gRPC method ("Master/CancelJob") or the HTTP
	// route ("POST /api/jobs/{id}/cancel").
	What string
	// Job is the job the call is about, if any.
	Job string
	// Result is "ok" or the error: a gRPC code name or an HTTP status.
	Result string
	// Peer is the remote address.
	Peer string
}

// Record writes e as one line "audit" with fields user, kind, via, call,
// job, result and peer.
func (a *Audit) Record(ctx context.Context, e Entry) {
	user, kind := e.Who.Name, "user"
	switch {
	case e.Who.Node:
		kind = "node"
	case user == "":
		user, kind = "-", "anonymous"
	}
	level := slog.LevelInfo
	if e.Result != "ok" {
		level = slog.LevelWarn
	}
	a.log.LogAttrs(ctx, level, "audit",
		slog.String("user", user),
		slog.String("kind", kind),
		slog.String("via", e.Who.Via),
		slog.String("call", e.What),
		slog.String("job", e.Job),
		slog.String("result", e.Result),
		slog.String("peer", e.Peer),
	)
}

type jobIDer interface{ GetJobId() string }

// JobOf returns the job a message is about: GetJobId() if the message
// has it; "" otherwise.
func JobOf(msg any) string {
	if m, ok := msg.(jobIDer); ok {
		return m.GetJobId()
	}
	return ""
}
