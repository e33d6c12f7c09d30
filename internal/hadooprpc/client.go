package hadooprpc

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/dagflow/dagflow/internal/hadooprpc/rpcheaderpb"
)

// Options configure a client connection.
type Options struct {
	// Protocol is the Java protocol interface called, e.g.
	// org.apache.hadoop.yarn.api.ApplicationClientProtocolPB.
	Protocol string
	// User is the effective user name sent in the connection context
	// (simple authentication).
	User string
	// Token, when set, authenticates the connection with SASL TOKEN
	// (DIGEST-MD5), as YARN's ApplicationMasterProtocol (AMRMToken) and
	// ContainerManagementProtocol (NMToken) require; the user then comes
	// from the token and none is sent.
	Token *Token
	// DialTimeout bounds connecting (default 10s).
	DialTimeout time.Duration
}

// Conn is a client connection to one Hadoop RPC server for one protocol.
// Calls are sent one at a time; a Conn is safe for concurrent use. After
// an I/O error the next call connects again.
type Conn struct {
	addr string
	opts Options

	mu       sync.Mutex
	conn     net.Conn
	r        *bufio.Reader
	clientID []byte
	callID   int32
}

// NewConn returns a client of addr (HOST:PORT). It connects on the first
// call.
func NewConn(addr string, opts Options) *Conn {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Conn{addr: addr, opts: opts, clientID: id}
}

// Addr is the server address.
func (c *Conn) Addr() string { return c.addr }

// SetToken replaces the token of SASL authentication (a YARN
// ResourceManager rolls the AMRMToken); it is used from the next
// connection on.
func (c *Conn) SetToken(t Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.Token = &t
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
	return nil
}

func (c *Conn) dropLocked() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

// connectLocked dials and sends the connection header and context.
func (c *Conn) connectLocked(ctx context.Context) error {
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("hadooprpc: connect to %s: %w", c.addr, err)
	}
	hdr := []byte{'h', 'r', 'p', 'c', Version, 0, authNone}
	if c.opts.Token != nil {
		hdr[6] = authSASL
	}
	rh := &pb.RpcRequestHeaderProto{
		RpcKind:    pb.RpcKindProto_RPC_PROTOCOL_BUFFER.Enum(),
		RpcOp:      pb.RpcRequestHeaderProto_RPC_FINAL_PACKET.Enum(),
		CallId:     proto.Int32(connectionContextCallID),
		ClientId:   c.clientID,
		RetryCount: proto.Int32(-1),
	}
	ipc := &pb.IpcConnectionContextProto{Protocol: proto.String(c.opts.Protocol)}
	if c.opts.Token == nil {
		ipc.UserInfo = &pb.UserInformationProto{EffectiveUser: proto.String(c.opts.User)}
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := bufio.NewReader(conn)
	if c.opts.Token != nil {
		if _, err := conn.Write(hdr); err != nil {
			conn.Close()
			return fmt.Errorf("hadooprpc: connect to %s: %w", c.addr, err)
		}
		if err := saslClient(conn, r, *c.opts.Token); err != nil {
			conn.Close()
			var re *RemoteError
			if errors.As(err, &re) {
				return err
			}
			return fmt.Errorf("hadooprpc: SASL authentication with token %s to %s: %w", c.opts.Token.Kind, c.addr, err)
		}
		hdr = nil
	}
	out, err := AppendFrame(hdr, rh, ipc)
	if err != nil {
		conn.Close()
		return err
	}
	if _, err := conn.Write(out); err != nil {
		conn.Close()
		return fmt.Errorf("hadooprpc: connect to %s: %w", c.addr, err)
	}
	c.conn, c.r = conn, r
	return nil
}

// Call invokes method with req and fills resp. A server exception is a
// *RemoteError; a network failure names the address.
func (c *Conn) Call(ctx context.Context, method string, req, resp proto.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hadooprpc: %s on %s: %w", method, c.addr, err)
	}
	if c.conn == nil {
		if err := c.connectLocked(ctx); err != nil {
			return err
		}
	}
	// A context that ends interrupts the blocked read or write.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	dl, _ := ctx.Deadline()
	c.conn.SetDeadline(dl)
	err := c.callLocked(method, req, resp)
	if err != nil {
		var re *RemoteError
		if !errors.As(err, &re) || re.Fatal {
			c.dropLocked()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		var re2 *RemoteError
		if errors.As(err, &re2) {
			return err
		}
		return fmt.Errorf("hadooprpc: %s on %s: %w", method, c.addr, err)
	}
	return nil
}

func (c *Conn) callLocked(method string, req, resp proto.Message) error {
	c.callID++
	if c.callID < 0 {
		c.callID = 0
	}
	id := c.callID
	rh := &pb.RpcRequestHeaderProto{
		RpcKind:    pb.RpcKindProto_RPC_PROTOCOL_BUFFER.Enum(),
		RpcOp:      pb.RpcRequestHeaderProto_RPC_FINAL_PACKET.Enum(),
		CallId:     proto.Int32(id),
		ClientId:   c.clientID,
		RetryCount: proto.Int32(0),
	}
	h := &pb.RequestHeaderProto{
		MethodName:                 proto.String(method),
		DeclaringClassProtocolName: proto.String(c.opts.Protocol),
		ClientProtocolVersion:      proto.Uint64(1),
	}
	out, err := AppendFrame(nil, rh, h, req)
	if err != nil {
		return err
	}
	if _, err := c.conn.Write(out); err != nil {
		return err
	}
	for {
		frame, err := ReadFrame(c.r)
		if err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		var rsp pb.RpcResponseHeaderProto
		rest, err := CutDelimited(frame, &rsp)
		if err != nil {
			return err
		}
		if int32(rsp.GetCallId()) != id && rsp.GetStatus() != pb.RpcResponseHeaderProto_FATAL {
			continue // a reply to a call abandoned earlier cannot come: calls are serial; skip stray frames
		}
		switch rsp.GetStatus() {
		case pb.RpcResponseHeaderProto_SUCCESS:
			_, err := CutDelimited(rest, resp)
			return err
		case pb.RpcResponseHeaderProto_FATAL:
			return &RemoteError{Class: rsp.GetExceptionClassName(), Message: rsp.GetErrorMsg(), Fatal: true}
		default:
			return &RemoteError{Class: rsp.GetExceptionClassName(), Message: rsp.GetErrorMsg()}
		}
	}
}
