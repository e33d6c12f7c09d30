package hdfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	hdfsclient "github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"
)

// ErrUnavailable is matched (errors.Is) by errors of calls that could not
// reach a NameNode, after retries: connection refused, all NameNodes in
// standby. The error names the NameNode addresses.
var ErrUnavailable = errors.New("NameNode unavailable")

// ErrSafeMode is matched by errors of mutations rejected because the
// NameNode is in safe mode (read-only, e.g. while starting). They are not
// retried.
var ErrSafeMode = errors.New("NameNode is in safe mode")

// nnClient is a connection (a client of the library) to the NameNodes of
// one authority, shared by the calls and open files of a FileSystem.
// Reference counts and state are guarded by FileSystem.mu.
type nnClient struct {
	authority string
	c         *hdfsclient.Client
	defaults  hdfsclient.ServerDefaults // fetched when connecting
	refs      int
	broken    bool // unusable (connection error, idle, FileSystem closed): no new users
	idle      *time.Timer
}

// acquire returns the client of authority with a reference, connecting if
// there is none. Concurrent callers wait for one connection attempt
// instead of each making their own.
func (f *FileSystem) acquire(ctx context.Context, authority string, addrs []string) (*nnClient, error) {
	f.mu.Lock()
	for {
		if f.closed {
			f.mu.Unlock()
			return nil, errClosed
		}
		if cl := f.clients[authority]; cl != nil {
			cl.refs++
			if cl.idle != nil {
				cl.idle.Stop()
				cl.idle = nil
			}
			f.mu.Unlock()
			return cl, nil
		}
		wait := f.connecting[authority]
		if wait == nil {
			break
		}
		f.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		f.mu.Lock()
	}
	done := make(chan struct{})
	f.connecting[authority] = done
	f.mu.Unlock()

	cl, err := f.connect(authority, addrs)

	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.connecting, authority)
	close(done)
	if err != nil {
		return nil, err
	}
	if f.closed {
		go cl.c.Close()
		return nil, errClosed
	}
	cl.refs = 1
	f.clients[authority] = cl
	return cl, nil
}

// retain adds a reference for an open file.
func (f *FileSystem) retain(cl *nnClient) {
	f.mu.Lock()
	cl.refs++
	f.mu.Unlock()
}

// release drops a reference. A broken client is closed when its last user
// is done; a healthy one after IdleTimeout without users.
func (f *FileSystem) release(cl *nnClient) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cl.refs--
	if cl.refs > 0 {
		return
	}
	if cl.broken {
		go cl.c.Close() // a broken client is never handed out again: closed once
		return
	}
	cl.idle = time.AfterFunc(f.cfg.IdleTimeout, func() {
		f.mu.Lock()
		idle := cl.refs == 0 && !cl.broken && f.clients[cl.authority] == cl
		if idle {
			cl.broken = true
			delete(f.clients, cl.authority)
		}
		f.mu.Unlock()
		if idle {
			cl.c.Close() // also stops the library's lease renewal goroutine
		}
	})
}

// markBroken makes the next call connect afresh. The library backs off
// from a NameNode for seconds after a connection error; a new client does
// not, and its retries are governed by Config.Retries instead.
func (f *FileSystem) markBroken(cl *nnClient) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cl.broken = true
	if f.clients[cl.authority] == cl {
		delete(f.clients, cl.authority)
	}
}

// connect creates a client of the NameNodes at addrs and fetches the
// server defaults (block size, replication) once, before the client is
// shared: the library caches them without synchronization.
func (f *FileSystem) connect(authority string, addrs []string) (*nnClient, error) {
	opts := hdfsclient.ClientOptionsFromConf(hadoopconf.HadoopConf(f.conf))
	opts.Addresses = addrs
	dialer := &net.Dialer{Timeout: f.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	dial := func(namenode bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &deadlineConn{Conn: conn, timeout: f.cfg.IOTimeout, namenode: namenode}, nil
		}
	}
	opts.NamenodeDialFunc, opts.DatanodeDialFunc = dial(true), dial(false)
	if f.kerberos != nil {
		krb, err := f.kerberos.login()
		if err != nil {
			return nil, err
		}
		opts.KerberosClient, opts.KerberosServicePrincipleName = krb, f.kerberos.spn
	} else {
		opts.KerberosClient, opts.User = nil, f.user
	}
	c, err := hdfsclient.NewClient(opts)
	if err != nil {
		return nil, err
	}
	d, err := c.ServerDefaults()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &nnClient{authority: authority, c: c, defaults: d}, nil
}

// deadlineConn bounds every read and write by a timeout, so that a hung
// NameNode or DataNode fails the call instead of blocking it forever.
//
// On NameNode connections it also checks, before sending a call, that the
// NameNode has not closed the connection (it restarted or failed over
// since the last call). Such a call fails with errStale before anything
// is sent, so it is safely retried on a new connection even if it is not
// idempotent; otherwise the reply's EOF would leave it ambiguous.
type deadlineConn struct {
	net.Conn
	timeout  time.Duration
	namenode bool
}

var errStale = errors.New("connection closed by the NameNode since the previous call")

func (c *deadlineConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if c.namenode && peerClosed(c.Conn) {
		return 0, errStale
	}
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(b)
}

// The library sets deadlines (none by default) on its connections; the
// per-call timeouts above replace them.
func (c *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

// failure classifies an error of a NameNode call.
type failure int

const (
	permanent failure = iota // a result: not retried
	unsent                   // the call did not reach a NameNode: always safe to retry
	transient                // the connection failed mid-call: retried if idempotent
)

func classify(err error) (kind failure, broken bool) {
	var remote hdfsclient.Error
	if errors.As(err, &remote) {
		switch shortClass(remote.Exception()) {
		case "RetriableException":
			return unsent, false
		case "StandbyException":
			return unsent, true
		}
		return permanent, false
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no available namenodes"):
		// The library found no NameNode to send the call to (refused,
		// standby, or backing off after an earlier error).
		return unsent, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return unsent, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNABORTED),
		strings.Contains(msg, "unexpected sequence number"), strings.Contains(msg, "invalid response from namenode"):
		return transient, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return transient, true
	}
	return permanent, false
}

// call runs fn with the client of p's authority, retrying transient
// failures with backoff: every call when the failure happened before the
// request was sent, idempotent calls also when the connection failed
// mid-call. The returned error is fn's, mapped by remoteErr, or a
// configuration or unavailability error.
func (f *FileSystem) call(ctx context.Context, p hpath, idempotent bool, fn func(*nnClient) error) error {
	if f.err != nil {
		return f.err
	}
	authority, addrs, err := f.conf.namenodes(p.auth)
	if err != nil {
		return fmt.Errorf("hdfs: %w", err)
	}
	backoff := f.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		cl, err := f.acquire(ctx, authority, addrs)
		if err == nil {
			err = fn(cl)
			f.release(cl)
			if err == nil {
				return nil
			}
		}
		if errors.Is(err, errClosed) {
			return err
		}
		kind, broken := classify(err)
		if broken && cl != nil {
			f.markBroken(cl)
		}
		if kind == permanent || (kind == transient && !idempotent) || attempt > f.cfg.Retries {
			if kind != permanent {
				return &unavailableError{addrs: addrs, attempts: attempt, err: err, maybeDone: kind == transient}
			}
			return remoteErr(err)
		}
		// Full jitter keeps concurrent subtasks from retrying in step.
		delay := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// unavailableError reports NameNodes that could not be reached, or whose
// connection broke during a call that is not retried (maybeDone).
type unavailableError struct {
	addrs     []string
	attempts  int
	err       error
	maybeDone bool
}

func (e *unavailableError) Error() string {
	what := "NameNode " + e.addrs[0]
	if len(e.addrs) > 1 {
		what = "NameNodes " + strings.Join(e.addrs, ", ")
	}
	if e.maybeDone {
		return fmt.Sprintf("connection to %s failed during the call, which may have taken effect: %v", what, e.err)
	}
	tries := "1 attempt"
	if e.attempts > 1 {
		tries = fmt.Sprintf("%d attempts", e.attempts)
	}
	return fmt.Sprintf("%s unavailable after %s: %v", what, tries, e.err)
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// remoteError is an exception from the NameNode mapped to a Go error.
type remoteError struct {
	kind  error // fs.ErrNotExist, fs.ErrPermission, ErrSafeMode, ... or nil
	class string
	msg   string // first line of the Java message
}

func (e *remoteError) Error() string {
	if e.kind != nil && e.msg != "" {
		return fmt.Sprintf("%v (%s: %s)", e.kind, e.class, e.msg)
	}
	if e.kind != nil {
		return e.kind.Error()
	}
	return fmt.Sprintf("%s: %s", e.class, e.msg)
}

func (e *remoteError) Unwrap() error { return e.kind }

func shortClass(class string) string {
	return class[strings.LastIndexByte(class, '.')+1:]
}

// remoteErr maps a library error: Java exceptions to errors matching the
// io/fs errors, and *os.PathError of the library unwrapped (the caller
// wraps the result with the full URI).
func remoteErr(err error) error {
	var remote hdfsclient.Error
	if errors.As(err, &remote) {
		e := &remoteError{class: shortClass(remote.Exception()), msg: remote.Message()}
		if i := strings.IndexByte(e.msg, '\n'); i >= 0 {
			e.msg = e.msg[:i]
		}
		switch e.class {
		case "FileNotFoundException":
			e.kind = fs.ErrNotExist
		case "AccessControlException":
			e.kind = fs.ErrPermission
		case "FileAlreadyExistsException", "AlreadyBeingCreatedException":
			e.kind = fs.ErrExist
		case "PathIsNotEmptyDirectoryException":
			e.kind = syscall.ENOTEMPTY
		case "ParentNotDirectoryException":
			e.kind = errNotDir
		case "SafeModeException":
			e.kind = ErrSafeMode
		}
		if e.class == "" {
			return err
		}
		return e
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
