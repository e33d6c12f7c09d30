// Package rpcpb holds the generated protobuf and gRPC code of the cluster
// control plane (cluster.proto): the Master, Worker and Executor services,
// and the control API of the external shuffle daemon (ShuffleDaemon).
package rpcpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative cluster.proto jobproc.proto

// Task reconciliation after a master failover (Reconcile and
// ExecutorReconcile services).
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative reconcile.proto
