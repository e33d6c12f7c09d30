package hadooprpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/protobuf/proto"

	pb "github.com/dagflow/dagflow/internal/hadooprpc/rpcheaderpb"
)

// ServerCall is one call received by a server.
type ServerCall struct {
	// User is the effective user of the connection context.
	User string
	// ConnProtocol is the protocol named in the connection context.
	ConnProtocol string
	// Protocol is the call's declaring protocol.
	Protocol string
	// Method is the method name.
	Method string
	// Body is the varint-delimited request.
	Body []byte
	// TokenIdentifier is the identifier of the token the connection
	// authenticated with (ServeOptions.Tokens), nil without one.
	TokenIdentifier []byte
}

// Decode parses the request into m.
func (c *ServerCall) Decode(m proto.Message) error {
	if _, err := CutDelimited(c.Body, m); err != nil {
		return &RemoteError{Class: ExIO, Message: fmt.Sprintf("cannot parse the %s request: %v", c.Method, err)}
	}
	return nil
}

// Handler answers one call with a response message, or an error (a
// *RemoteError to choose the exception class; other errors are sent as
// java.io.IOException; ErrDropConnection closes the connection without a
// reply).
type Handler func(ctx context.Context, call *ServerCall) (proto.Message, error)

// ErrDropConnection, returned by a Handler, closes the connection without
// replying, as a server that crashed after the call took effect.
var ErrDropConnection = errors.New("hadooprpc: drop the connection")

// ServeOptions configure ServeConnWith.
type ServeOptions struct {
	// Tokens, when set, makes the server require TOKEN (DIGEST-MD5) SASL
	// authentication, with the passwords it returns: a client without a
	// token is refused with an AccessControlException, a wrong password
	// with a SaslException, as a Hadoop server with
	// hadoop.security.authentication=TOKEN does.
	Tokens TokenVerifier
}

// ServeConn serves one accepted connection until it closes or ctx ends.
// It reads the connection header and context, then answers each call with
// h in order. Connections asking for SASL are closed.
func ServeConn(ctx context.Context, conn net.Conn, h Handler) error {
	return ServeConnWith(ctx, conn, h, ServeOptions{})
}

// ServeConnWith is ServeConn with options.
func ServeConnWith(ctx context.Context, conn net.Conn, h Handler, opts ServeOptions) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := bufio.NewReader(conn)
	var pre [7]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return err
	}
	var tokenID []byte
	switch {
	case string(pre[:4]) != "hrpc" || pre[4] != Version:
		// A real server answers with a fatal error; closing is as clear
		// for a test server.
		return fmt.Errorf("hadooprpc: unsupported connection header %q", pre[:])
	case opts.Tokens != nil && pre[6] == authNone:
		msg := "SIMPLE authentication is not enabled.  Available:[TOKEN]"
		sendFatal(conn, ExAccessControl, msg)
		return &RemoteError{Class: ExAccessControl, Message: msg, Fatal: true}
	case opts.Tokens != nil && pre[6] == authSASL:
		id, err := saslServer(conn, r, opts.Tokens)
		if err != nil {
			return err
		}
		tokenID = id
	case pre[6] != authNone:
		return fmt.Errorf("hadooprpc: unsupported connection header %q (SASL without ServeOptions.Tokens)", pre[:])
	}
	frame, err := ReadFrame(r)
	if err != nil {
		return err
	}
	var ctxHeader pb.RpcRequestHeaderProto
	rest, err := CutDelimited(frame, &ctxHeader)
	if err != nil {
		return err
	}
	var ipc pb.IpcConnectionContextProto
	if _, err := CutDelimited(rest, &ipc); err != nil {
		return err
	}
	user := ipc.GetUserInfo().GetEffectiveUser()
	if user == "" {
		user = "unknown"
	}
	w := bufio.NewWriter(conn)
	for {
		frame, err := ReadFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var rh pb.RpcRequestHeaderProto
		rest, err := CutDelimited(frame, &rh)
		if err != nil {
			return err
		}
		if rh.GetCallId() < 0 { // ping (-4) and other control calls: no reply
			continue
		}
		var reqHeader pb.RequestHeaderProto
		if rest, err = CutDelimited(rest, &reqHeader); err != nil {
			return err
		}
		call := &ServerCall{User: user, ConnProtocol: ipc.GetProtocol(), Protocol: reqHeader.GetDeclaringClassProtocolName(),
			Method: reqHeader.GetMethodName(), Body: rest, TokenIdentifier: tokenID}
		resp, herr := h(ctx, call)
		if errors.Is(herr, ErrDropConnection) {
			return nil
		}
		out, err := replyFrame(&rh, resp, herr)
		if err != nil {
			return err
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

func replyFrame(rh *pb.RpcRequestHeaderProto, resp proto.Message, callErr error) ([]byte, error) {
	header := &pb.RpcResponseHeaderProto{
		CallId:              proto.Uint32(uint32(rh.GetCallId())),
		Status:              pb.RpcResponseHeaderProto_SUCCESS.Enum(),
		ServerIpcVersionNum: proto.Uint32(Version),
		ClientId:            rh.GetClientId(),
	}
	if callErr != nil {
		var re *RemoteError
		if !errors.As(callErr, &re) {
			re = &RemoteError{Class: ExIO, Message: callErr.Error()}
		}
		header.Status = pb.RpcResponseHeaderProto_ERROR.Enum()
		header.ExceptionClassName = proto.String(re.Class)
		header.ErrorMsg = proto.String(re.Message)
		detail := pb.RpcResponseHeaderProto_ERROR_APPLICATION
		switch re.Class {
		case ExNoSuchMethod:
			detail = pb.RpcResponseHeaderProto_ERROR_NO_SUCH_METHOD
		case ExNoSuchProtocol:
			detail = pb.RpcResponseHeaderProto_ERROR_NO_SUCH_PROTOCOL
		}
		header.ErrorDetail = detail.Enum()
		return AppendFrame(nil, header)
	}
	if resp == nil {
		return nil, errors.New("hadooprpc: handler returned neither a response nor an error")
	}
	return AppendFrame(nil, header, resp)
}
