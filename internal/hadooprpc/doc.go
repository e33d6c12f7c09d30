// Package hadooprpc speaks Hadoop RPC version 9 with protocol buffers
// (the ProtobufRpcEngine) and simple authentication, on both sides: Conn
// is a client connection that calls methods of one Hadoop protocol (for
// example org.apache.hadoop.yarn.api.ApplicationClientProtocolPB), and
// ServeConn serves one accepted connection with a Handler, as the test
// stand-ins internal/hdfstest and internal/yarntest do.
//
// The wire format:
//
//	connection: "hrpc" version(9) serviceClass(0) authProtocol(0 = simple)
//	            frame{RpcRequestHeaderProto(callId -3), IpcConnectionContextProto}
//	call:       frame{RpcRequestHeaderProto, RequestHeaderProto, request}
//	reply:      frame{RpcResponseHeaderProto[, response]}
//
// where a frame is a big-endian uint32 length followed by varint-delimited
// messages. A failed call's reply carries the Java exception class and
// message, surfaced as *RemoteError.
//
// SASL (Kerberos, or the DIGEST-MD5 token authentication YARN uses for
// ApplicationMasterProtocol and ContainerManagementProtocol on a secure
// cluster) is not implemented: a server that requires it closes the
// connection or answers with a fatal error, which Conn reports.
package hadooprpc
