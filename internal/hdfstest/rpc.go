package hdfstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/dagflow/dagflow/internal/hadooprpc"
)

// The NameNode's Hadoop RPC protocol (framing: package hadooprpc).
const (
	clientProtocol  = "org.apache.hadoop.hdfs.protocol.ClientProtocol"
	namenodeService = "hadoop.hdfs.ClientNamenodeProtocol"
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

// serveRPC handles one client connection to nn with the shared Hadoop RPC
// framing of package hadooprpc.
func (c *Cluster) serveRPC(nn *nameNode, conn net.Conn) {
	hadooprpc.ServeConn(context.Background(), conn, func(_ context.Context, call *hadooprpc.ServerCall) (proto.Message, error) {
		resp, err := c.dispatch(nn, call)
		if c.takeReset(call.Method) {
			return nil, hadooprpc.ErrDropConnection // the call took effect but the NameNode "crashed" before replying
		}
		if err != nil {
			var je *javaError
			if errors.As(err, &je) {
				return nil, &hadooprpc.RemoteError{Class: je.class, Message: je.msg}
			}
			return nil, err
		}
		return resp.Interface(), nil
	})
}

// dispatch decodes a call's request and runs its handler.
func (c *Cluster) dispatch(nn *nameNode, call *hadooprpc.ServerCall) (protoreflect.Message, error) {
	method := call.Method
	if p := call.Protocol; p != clientProtocol {
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
	if _, err := cutDelimited(call.Body, req); err != nil {
		return nil, throw(exIO, "cannot parse %s request: %v", method, err)
	}
	resp := newMsg(string(md.Output().FullName()))
	f, err := h(call.User, req)
	if err != nil {
		return nil, err
	}
	setFields(resp, f)
	return resp, nil
}
