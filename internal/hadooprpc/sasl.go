package hadooprpc

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	pb "github.com/dagflow/dagflow/internal/hadooprpc/rpcheaderpb"
)

// Authentication protocols of the connection header, and the call id of
// SASL messages (RpcConstants / Server.AuthProtocol).
const (
	authNone   = 0
	authSASL   = 0xDF // -33
	saslCallID = -33
)

// saslReplyCallID is saslCallID in RpcResponseHeaderProto's uint32.
const saslReplyCallID uint32 = 1<<32 + saslCallID

// The SASL method and mechanism of token authentication.
const (
	saslMethodToken  = "TOKEN"
	saslMechDigestMD = "DIGEST-MD5"
)

// Exception classes of failed authentication.
const (
	// ExAccessControl is org.apache.hadoop.security.AccessControlException.
	ExAccessControl = "org.apache.hadoop.security.AccessControlException"
	// ExInvalidToken is SecretManager.InvalidToken.
	ExInvalidToken = "org.apache.hadoop.security.token.SecretManager$InvalidToken"
	// ExSasl is javax.security.sasl.SaslException.
	ExSasl = "javax.security.sasl.SaslException"
)

func saslHeader() *pb.RpcRequestHeaderProto {
	return &pb.RpcRequestHeaderProto{
		RpcKind:    pb.RpcKindProto_RPC_PROTOCOL_BUFFER.Enum(),
		RpcOp:      pb.RpcRequestHeaderProto_RPC_FINAL_PACKET.Enum(),
		CallId:     proto.Int32(saslCallID),
		ClientId:   []byte{},
		RetryCount: proto.Int32(-1),
	}
}

// readSasl reads a SASL reply; a server error is a *RemoteError.
func readSasl(r io.Reader) (*pb.RpcSaslProto, error) {
	frame, err := ReadFrame(r)
	if err != nil {
		return nil, fmt.Errorf("reading the SASL reply: %w", err)
	}
	var h pb.RpcResponseHeaderProto
	rest, err := CutDelimited(frame, &h)
	if err != nil {
		return nil, err
	}
	if h.GetStatus() != pb.RpcResponseHeaderProto_SUCCESS {
		return nil, &RemoteError{Class: h.GetExceptionClassName(), Message: h.GetErrorMsg(), Fatal: true}
	}
	if int32(h.GetCallId()) != saslCallID {
		return nil, fmt.Errorf("a reply to call %d during SASL negotiation", int32(h.GetCallId()))
	}
	var m pb.RpcSaslProto
	if _, err := CutDelimited(rest, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func writeSasl(w io.Writer, m *pb.RpcSaslProto) error {
	out, err := AppendFrame(nil, saslHeader(), m)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// saslClient authenticates with t after the connection header was sent
// (SaslRpcClient.saslConnect with a TOKEN auth).
func saslClient(w io.Writer, r *bufio.Reader, t Token) error {
	if err := writeSasl(w, &pb.RpcSaslProto{State: pb.RpcSaslProto_NEGOTIATE.Enum()}); err != nil {
		return err
	}
	neg, err := readSasl(r)
	if err != nil {
		return err
	}
	if neg.GetState() != pb.RpcSaslProto_NEGOTIATE {
		return fmt.Errorf("the server answered NEGOTIATE with %s", neg.GetState())
	}
	var auth *pb.RpcSaslProto_SaslAuth
	var offered []string
	for _, a := range neg.GetAuths() {
		offered = append(offered, a.GetMethod()+"/"+a.GetMechanism())
		if a.GetMethod() == saslMethodToken && a.GetMechanism() == saslMechDigestMD && auth == nil {
			auth = a
		}
	}
	if auth == nil {
		return fmt.Errorf("the server does not offer TOKEN/DIGEST-MD5 authentication (it offers %v)", offered)
	}
	if len(auth.GetChallenge()) == 0 {
		return errors.New("the server's TOKEN auth has no DIGEST-MD5 challenge")
	}
	d := &digestClient{token: t, protocol: auth.GetProtocol(), serverID: auth.GetServerId()}
	resp, err := d.respond(auth.GetChallenge())
	if err != nil {
		return err
	}
	chosen := proto.CloneOf(auth)
	chosen.Challenge = nil
	if err := writeSasl(w, &pb.RpcSaslProto{State: pb.RpcSaslProto_INITIATE.Enum(), Token: resp, Auths: []*pb.RpcSaslProto_SaslAuth{chosen}}); err != nil {
		return err
	}
	done, err := readSasl(r)
	if err != nil {
		return err
	}
	if done.GetState() != pb.RpcSaslProto_SUCCESS {
		return fmt.Errorf("the server answered the DIGEST-MD5 response with %s, want SUCCESS", done.GetState())
	}
	return d.verify(done.GetToken())
}

// TokenVerifier returns the password of a token identifier a client
// authenticates with, or an error (a *RemoteError of class ExInvalidToken
// for an unknown or expired token) refusing it. It must be safe for
// concurrent use.
type TokenVerifier func(identifier []byte) (password []byte, err error)

// sendFatal answers with a fatal SASL error, as Server.doSaslReply does.
func sendFatal(w io.Writer, class, msg string) error {
	h := &pb.RpcResponseHeaderProto{
		CallId:              proto.Uint32(saslReplyCallID),
		Status:              pb.RpcResponseHeaderProto_FATAL.Enum(),
		ServerIpcVersionNum: proto.Uint32(Version),
		ExceptionClassName:  proto.String(class),
		ErrorMsg:            proto.String(msg),
		ErrorDetail:         pb.RpcResponseHeaderProto_FATAL_UNAUTHORIZED.Enum(),
	}
	out, err := AppendFrame(nil, h)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func sendSasl(w io.Writer, m *pb.RpcSaslProto) error {
	h := &pb.RpcResponseHeaderProto{
		CallId:              proto.Uint32(saslReplyCallID),
		Status:              pb.RpcResponseHeaderProto_SUCCESS.Enum(),
		ServerIpcVersionNum: proto.Uint32(Version),
	}
	out, err := AppendFrame(nil, h, m)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// readSaslRequest reads a client's SASL message.
func readSaslRequest(r io.Reader) (*pb.RpcSaslProto, error) {
	frame, err := ReadFrame(r)
	if err != nil {
		return nil, err
	}
	var h pb.RpcRequestHeaderProto
	rest, err := CutDelimited(frame, &h)
	if err != nil {
		return nil, err
	}
	if h.GetCallId() != saslCallID {
		return nil, fmt.Errorf("hadooprpc: call %d before SASL authentication", h.GetCallId())
	}
	var m pb.RpcSaslProto
	if _, err := CutDelimited(rest, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// saslServer runs the server side of TOKEN authentication after a SASL
// connection header; it returns the authenticated token identifier. A
// refusal is sent to the client and returned.
func saslServer(w io.Writer, r io.Reader, verify TokenVerifier) ([]byte, error) {
	refuse := func(class, msg string) ([]byte, error) {
		sendFatal(w, class, msg)
		return nil, &RemoteError{Class: class, Message: msg, Fatal: true}
	}
	neg, err := readSaslRequest(r)
	if err != nil {
		return nil, err
	}
	if neg.GetState() != pb.RpcSaslProto_NEGOTIATE {
		return refuse(ExSasl, fmt.Sprintf("SASL negotiation starts with %s, want NEGOTIATE", neg.GetState()))
	}
	var d digestServer
	if err := sendSasl(w, &pb.RpcSaslProto{State: pb.RpcSaslProto_NEGOTIATE.Enum(), Auths: []*pb.RpcSaslProto_SaslAuth{{
		Method: proto.String(saslMethodToken), Mechanism: proto.String(saslMechDigestMD),
		Protocol: proto.String(""), ServerId: proto.String(saslDefaultServer), Challenge: d.challenge(),
	}}}); err != nil {
		return nil, err
	}
	init, err := readSaslRequest(r)
	if err != nil {
		return nil, err
	}
	if init.GetState() != pb.RpcSaslProto_INITIATE || len(init.GetAuths()) != 1 || init.GetAuths()[0].GetMethod() != saslMethodToken {
		return refuse(ExAccessControl, fmt.Sprintf("Client wants %s with %d auths; this server accepts [TOKEN]", init.GetState(), len(init.GetAuths())))
	}
	id, rspauth, err := d.check(init.GetToken(), verify)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return refuse(re.Class, re.Message)
		}
		return refuse(ExSasl, err.Error())
	}
	if err := sendSasl(w, &pb.RpcSaslProto{State: pb.RpcSaslProto_SUCCESS.Enum(), Token: rspauth}); err != nil {
		return nil, err
	}
	return id, nil
}
