// Package shufflepb holds the wire protocol of remote shuffle reads: the
// protobuf messages and the gRPC ShuffleService (a bidi-streaming Read with
// credit-based flow control, and a unary Stat), generated from
// shuffle.proto. Package shuffle/remote implements both ends; its README
// describes the protocol and the credit rules.
//
// Regenerate with `go generate ./shuffle/shufflepb` (needs protoc,
// protoc-gen-go and protoc-gen-go-grpc on PATH).
package shufflepb
