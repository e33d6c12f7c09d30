package hdfstest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Hadoop RPC (version 9) as spoken by HDFS clients:
//
//	connection: "hrpc" version(9) serviceClass authProtocol(0 = simple)
//	            frame{RpcRequestHeaderProto(callId -3), IpcConnectionContextProto}
//	call:       frame{RpcRequestHeaderProto, RequestHeaderProto, request}
//	reply:      frame{RpcResponseHeaderProto[, response]}
//
// where frame is a big-endian uint32 length followed by varint-delimited
// messages.
const (
	rpcVersion      = 9
	clientProtocol  = "org.apache.hadoop.hdfs.protocol.ClientProtocol"
	namenodeService = "hadoop.hdfs.ClientNamenodeProtocol"
	maxFrame        = 64 << 20
)

// Java exception classes the stand-in throws. The client maps the first
// few to os errors; StandbyException makes it fail over.
const (
	exFileNotFound   = "java.io.FileNotFoundException"
	exIO             = "java.io.IOException"
	exAccess         = "org.apache.hadoop.security.AccessControlException"
	exExists         = "org.apache.hadoop.fs.FileAlreadyExistsException"
	exBeingCreated   = "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException"
	exNotEmpty       = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"
	exParentNotDir   = "org.apache.hadoop.fs.ParentNotDirectoryException"
	exInvalidPath    = "org.apache.hadoop.fs.InvalidPathException"
	exSafeMode       = "org.apache.hadoop.hdfs.server.namenode.SafeModeException"
	exLease          = "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException"
	exStandby        = "org.apache.hadoop.ipc.StandbyException"
	exNoSuchMethod   = "org.apache.hadoop.ipc.RpcNoSuchMethodException"
	exNoSuchProtocol = "org.apache.hadoop.ipc.RpcNoSuchProtocolException"
)

// javaError is an exception returned to the client.
type javaError struct {
	class, msg string
}

func (e *javaError) Error() string { return e.class + ": " + e.msg }

func throw(class, format string, args ...any) error {
	return &javaError{class: class, msg: fmt.Sprintf(format, args...)}
}

// nameNode is one NameNode endpoint. With HA the cluster has two sharing
// one namespace; only the active one serves calls.
type nameNode struct {
	name   string
	srv    *server
	active atomic.Bool
}

// serveRPC handles one client connection to nn.
func (c *Cluster) serveRPC(nn *nameNode, conn net.Conn) {
	r := bufio.NewReader(conn)
	var pre [7]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return
	}
	if string(pre[:4]) != "hrpc" || pre[4] != rpcVersion || pre[6] != 0 {
		// Wrong version or SASL/Kerberos: a real server answers with a
		// fatal error; closing is as clear for the stand-in.
		return
	}
	frame, err := readFrame(r)
	if err != nil {
		return
	}
	ctxHeader := newMsg("hadoop.common.RpcRequestHeaderProto")
	rest, err := cutDelimited(frame, ctxHeader)
	if err != nil {
		return
	}
	ipc := newMsg("hadoop.common.IpcConnectionContextProto")
	if _, err := cutDelimited(rest, ipc); err != nil {
		return
	}
	user := "unknown"
	if ui := sub(ipc, "userInfo"); ui != nil {
		user = str(ui, "effectiveUser")
	}
	w := bufio.NewWriter(conn)
	for {
		frame, err := readFrame(r)
		if err != nil {
			return
		}
		rh := newMsg("hadoop.common.RpcRequestHeaderProto")
		rest, err := cutDelimited(frame, rh)
		if err != nil {
			return
		}
		callID := int32(i64(rh, "callId"))
		if callID < 0 { // ping (-4) and other control calls: no reply
			continue
		}
		reqHeader := newMsg("hadoop.common.RequestHeaderProto")
		if rest, err = cutDelimited(rest, reqHeader); err != nil {
			return
		}
		resp, err := c.dispatch(nn, user, reqHeader, rest)
		if c.takeReset(str(reqHeader, "methodName")) {
			return // the call took effect but the NameNode "crashed" before replying
		}
		out, werr := replyFrame(rh, callID, resp, err)
		if werr != nil {
			return
		}
		if _, err := w.Write(out); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

// dispatch decodes a call's request and runs its handler.
func (c *Cluster) dispatch(nn *nameNode, user string, reqHeader protoreflect.Message, body []byte) (protoreflect.Message, error) {
	method := str(reqHeader, "methodName")
	if p := str(reqHeader, "declaringClassProtocolName"); p != clientProtocol {
		return nil, throw(exNoSuchProtocol, "unknown protocol: %s", p)
	}
	if !nn.active.Load() {
		c.count("standbyRejected")
		return nil, throw(exStandby, "Operation category %s is not supported in state standby", method)
	}
	c.count(method)
	h, ok := c.handlers[method]
	desc, err := protoregistry.GlobalFiles.FindDescriptorByName(namenodeService)
	if err != nil {
		return nil, err
	}
	md := desc.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(method))
	if !ok || md == nil {
		return nil, throw(exNoSuchMethod, "Unknown method %s called on %s protocol (the hdfstest stand-in does not implement it).", method, clientProtocol)
	}
	req := newMsg(string(md.Input().FullName()))
	if _, err := cutDelimited(body, req); err != nil {
		return nil, throw(exIO, "cannot parse %s request: %v", method, err)
	}
	resp := newMsg(string(md.Output().FullName()))
	f, err := h(user, req)
	if err != nil {
		return nil, err
	}
	setFields(resp, f)
	return resp, nil
}

func replyFrame(rh protoreflect.Message, callID int32, resp protoreflect.Message, callErr error) ([]byte, error) {
	header := fields{
		"callId":              uint32(callID),
		"status":              "SUCCESS",
		"serverIpcVersionNum": uint32(rpcVersion),
		"clientId":            bytesOf(rh, "clientId"),
	}
	if callErr != nil {
		je, ok := callErr.(*javaError)
		if !ok {
			je = &javaError{class: exIO, msg: callErr.Error()}
		}
		header["status"] = "ERROR"
		header["exceptionClassName"] = je.class
		header["errorMsg"] = je.msg
		detail := "ERROR_APPLICATION"
		switch je.class {
		case exNoSuchMethod:
			detail = "ERROR_NO_SUCH_METHOD"
		case exNoSuchProtocol:
			detail = "ERROR_NO_SUCH_PROTOCOL"
		}
		header["errorDetail"] = detail
		resp = nil
	}
	b := make([]byte, 4, 256)
	b, err := appendDelimited(b, build("hadoop.common.RpcResponseHeaderProto", header))
	if err != nil {
		return nil, err
	}
	if resp != nil {
		if b, err = appendDelimited(b, resp); err != nil {
			return nil, err
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes is too large", size)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, int64(size)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
