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
// SASL TOKEN authentication (DIGEST-MD5 with qop=auth, the token
// authentication YARN requires for ApplicationMasterProtocol and
// ContainerManagementProtocol) is implemented on both sides:
// Options.Token on the client, ServeOptions.Tokens on the server. The
// header then says authProtocol SASL (-33) and an RpcSaslProto exchange
// (NEGOTIATE, INITIATE, SUCCESS, call id -33) precedes the connection
// context. Integrity and privacy protection (hadoop.rpc.protection other
// than authentication) and Kerberos are not implemented. Credentials
// reads and writes Hadoop's token storage files ("HDTS").
package hadooprpc
