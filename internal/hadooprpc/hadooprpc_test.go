package hadooprpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	pb "github.com/dagflow/dagflow/internal/hadooprpc/rpcheaderpb"
)

// serve runs h on a loopback listener until the test ends.
func serve(t *testing.T, h hadooprpc.Handler) string {
	return serveWith(t, h, hadooprpc.ServeOptions{})
}

// serveWith is serve with options.
func serveWith(t *testing.T, h hadooprpc.Handler, opts hadooprpc.ServeOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); hadooprpc.ServeConnWith(ctx, c, h, opts) }()
		}
	}()
	return ln.Addr().String()
}

// The message used as request and response: any proto message works, the
// framing does not care.
func echo(_ context.Context, call *hadooprpc.ServerCall) (proto.Message, error) {
	var req pb.UserInformationProto
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	switch call.Method {
	case "echo":
		return &pb.UserInformationProto{EffectiveUser: proto.String(call.User + "/" + call.Protocol + "/" + req.GetEffectiveUser())}, nil
	case "fail":
		return nil, &hadooprpc.RemoteError{Class: "org.apache.hadoop.yarn.exceptions.YarnException", Message: "no such queue: " + req.GetEffectiveUser()}
	case "drop":
		return nil, hadooprpc.ErrDropConnection
	}
	return nil, &hadooprpc.RemoteError{Class: hadooprpc.ExNoSuchMethod, Message: call.Method}
}

func TestCallRoundTrip(t *testing.T) {
	addr := serve(t, echo)
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "test.ProtocolPB", User: "alice"})
	defer c.Close()
	ctx := context.Background()
	for _, arg := range []string{"a", "b", strings.Repeat("x", 100000)} {
		var resp pb.UserInformationProto
		if err := c.Call(ctx, "echo", &pb.UserInformationProto{EffectiveUser: proto.String(arg)}, &resp); err != nil {
			t.Fatal(err)
		}
		if want := "alice/test.ProtocolPB/" + arg; resp.GetEffectiveUser() != want {
			t.Fatalf("echo %q: got %q", arg[:1], resp.GetEffectiveUser()[:min(40, len(resp.GetEffectiveUser()))])
		}
	}
}

func TestRemoteErrorKeepsConnection(t *testing.T) {
	addr := serve(t, echo)
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", User: "u"})
	defer c.Close()
	var resp pb.UserInformationProto
	err := c.Call(context.Background(), "fail", &pb.UserInformationProto{EffectiveUser: proto.String("nope")}, &resp)
	var re *hadooprpc.RemoteError
	if !errors.As(err, &re) || re.Class != "org.apache.hadoop.yarn.exceptions.YarnException" || re.Message != "no such queue: nope" {
		t.Fatalf("got %v, want the YarnException", err)
	}
	if err := c.Call(context.Background(), "echo", &pb.UserInformationProto{}, &resp); err != nil {
		t.Fatalf("call after an exception: %v", err)
	}
}

func TestDroppedConnectionReconnects(t *testing.T) {
	addr := serve(t, echo)
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", User: "u"})
	defer c.Close()
	var resp pb.UserInformationProto
	err := c.Call(context.Background(), "drop", &pb.UserInformationProto{}, &resp)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("dropped call: got %v, want an error naming %s", err, addr)
	}
	if err := c.Call(context.Background(), "echo", &pb.UserInformationProto{}, &resp); err != nil {
		t.Fatalf("call after a dropped connection: %v", err)
	}
}

func TestUnreachableNamesAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", User: "u", DialTimeout: 5 * time.Second})
	err = c.Call(context.Background(), "echo", &pb.UserInformationProto{}, &pb.UserInformationProto{})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want an error naming %s", err, addr)
	}
}

func TestContextCancelsBlockedCall(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	addr := serve(t, func(ctx context.Context, _ *hadooprpc.ServerCall) (proto.Message, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, hadooprpc.ErrDropConnection
	})
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", User: "u"})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, "slow", &pb.UserInformationProto{}, &pb.UserInformationProto{}) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
