// Package rpcheaderpb holds the generated code of the Hadoop RPC headers
// (rpcheader.proto) that package hadooprpc frames calls with.
package rpcheaderpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative rpcheader.proto
