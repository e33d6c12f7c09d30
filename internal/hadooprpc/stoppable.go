package hadooprpc

import (
	"errors"
	"net"
	"sync"
)

// StoppableServer is a loopback TCP server for protocol stand-ins (the
// test NameNode, DataNode, ResourceManager and NodeManagers): it can be
// stopped (listener and open connections closed, like a crashed process)
// and started again on the same address.
type StoppableServer struct {
	serve func(net.Conn)

	mu    sync.Mutex
	addr  string // fixed by the first start
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // accept loops and connection handlers
}

// NewStoppableServer returns a stopped server that hands each accepted
// connection to serve (which owns it until it returns).
func NewStoppableServer(serve func(net.Conn)) *StoppableServer {
	return &StoppableServer{serve: serve, conns: make(map[net.Conn]struct{})}
}

// Start listens (on a free loopback port the first time, then on the same
// address again). Starting a running server does nothing.
func (s *StoppableServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

func (s *StoppableServer) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.ln != ln { // stopped meanwhile
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer s.forget(conn)
			s.serve(conn)
		}()
	}
}

func (s *StoppableServer) forget(conn net.Conn) {
	conn.Close()
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
}

// Stop closes the listener and every open connection without waiting for
// the handlers, so a handler may stop its own server. New connections are
// refused until Start.
func (s *StoppableServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
}

// Running reports whether the server listens.
func (s *StoppableServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln != nil
}

// Addr returns the server's address (fixed by its first Start).
func (s *StoppableServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops the server and waits for its goroutines.
func (s *StoppableServer) Close() {
	s.Stop()
	s.wg.Wait()
}
