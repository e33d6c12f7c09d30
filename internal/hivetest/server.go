package hivetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	hms "github.com/beltran/gohive/hive_metastore"
)

// Options configure a test metastore.
type Options struct {
	// Warehouse is returned for hive.metastore.warehouse.dir and is the
	// parent of default database and table locations.
	Warehouse string
	// SASL makes the server expect SASL PLAIN negotiation (Hive's auth
	// NONE); User and Password, when set, are checked.
	SASL           bool
	User, Password string
	// Kerberos, when set, makes the server expect SASL GSSAPI instead
	// (SASL is then ignored).
	Kerberos *KerberosOptions
	// Addr is the listen address (default 127.0.0.1:0).
	Addr string
}

// Metastore is a running test metastore.
type Metastore struct {
	opts    Options
	handler *handler
	proc    *hms.ThriftHiveMetastoreProcessor

	mu    sync.Mutex
	ln    net.Listener
	addr  string
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	calls map[string]int
	// principals are the Kerberos clients authenticated, in order.
	principals []string
	// authErrs are the reasons GSSAPI handshakes failed, in order.
	authErrs []string
}

// Start starts a metastore.
func Start(opts Options) (*Metastore, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	m := &Metastore{opts: opts, calls: map[string]int{}, conns: map[net.Conn]struct{}{}}
	m.handler = newHandler(opts.Warehouse)
	m.proc = hms.NewThriftHiveMetastoreProcessor(m.handler)
	if err := m.listen(opts.Addr); err != nil {
		return nil, err
	}
	return m, nil
}

// StartTest starts a metastore stopped at the end of the test.
func StartTest(tb testing.TB, opts Options) *Metastore {
	tb.Helper()
	m, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

func (m *Metastore) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("hivetest: listen %s: %w", addr, err)
	}
	m.mu.Lock()
	m.ln = ln
	m.addr = ln.Addr().String()
	m.mu.Unlock()
	m.wg.Add(1)
	go m.accept(ln)
	return nil
}

// Addr returns host:port.
func (m *Metastore) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// URI returns thrift://host:port.
func (m *Metastore) URI() string { return "thrift://" + m.Addr() }

// Stop closes the listener and every connection; the metastore keeps its
// data and Start serves it again on the same address.
func (m *Metastore) Stop() {
	m.mu.Lock()
	if m.ln != nil {
		m.ln.Close()
		m.ln = nil
	}
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Start serves again after Stop, on the same address.
func (m *Metastore) Start() error {
	return m.listen(m.Addr())
}

// Close stops the metastore.
func (m *Metastore) Close() { m.Stop() }

// Calls returns how many times method (a Thrift name such as
// "get_partitions_by_names") was called, including unknown methods.
func (m *Metastore) Calls(method string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[method]
}

// Principals returns the client principals ("alice@EXAMPLE.COM") that
// authenticated with Kerberos, one per connection.
func (m *Metastore) Principals() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.principals...)
}

// AuthErrors returns why Kerberos handshakes failed, one per connection.
func (m *Metastore) AuthErrors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.authErrs...)
}

func (m *Metastore) accept(ln net.Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		m.conns[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer func() {
				c.Close()
				m.mu.Lock()
				delete(m.conns, c)
				m.mu.Unlock()
			}()
			m.serve(c)
		}()
	}
}

func (m *Metastore) serve(c net.Conn) {
	ctx := context.Background()
	conf := &thrift.TConfiguration{}
	var tr thrift.TTransport = thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(c, conf), 64<<10)
	if m.opts.Kerberos != nil {
		st := &saslServer{under: tr}
		who, err := st.handshakeGSSAPI(ctx, m.opts.Kerberos)
		m.mu.Lock()
		if err != nil {
			m.authErrs = append(m.authErrs, err.Error())
		} else {
			m.principals = append(m.principals, who)
		}
		m.mu.Unlock()
		if err != nil {
			return
		}
		tr = st
	} else if m.opts.SASL {
		st := &saslServer{under: tr}
		if err := st.handshake(ctx, m.opts.User, m.opts.Password); err != nil {
			return
		}
		tr = st
	}
	prot := thrift.NewTBinaryProtocolConf(tr, conf)
	for {
		if err := m.processOne(ctx, prot); err != nil {
			return
		}
	}
}

// processOne serves one call: implemented methods through the generated
// processor, others with TApplicationException UNKNOWN_METHOD.
func (m *Metastore) processOne(ctx context.Context, prot thrift.TProtocol) error {
	name, _, seq, err := prot.ReadMessageBegin(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.calls[name]++
	m.mu.Unlock()
	if implemented[name] {
		if fn, ok := m.proc.ProcessorMap()[name]; ok {
			_, terr := fn.Process(ctx, seq, prot, prot)
			if terr != nil {
				var te thrift.TTransportException
				if errors.As(terr, &te) {
					return terr
				}
			}
			return nil
		}
	}
	if err := prot.Skip(ctx, thrift.STRUCT); err != nil {
		return err
	}
	if err := prot.ReadMessageEnd(ctx); err != nil {
		return err
	}
	x := thrift.NewTApplicationException(thrift.UNKNOWN_METHOD, "the test metastore does not implement "+name)
	if err := prot.WriteMessageBegin(ctx, name, thrift.EXCEPTION, seq); err != nil {
		return err
	}
	if err := x.Write(ctx, prot); err != nil {
		return err
	}
	if err := prot.WriteMessageEnd(ctx); err != nil {
		return err
	}
	return prot.Flush(ctx)
}
