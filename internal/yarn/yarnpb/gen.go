// Package yarnpb holds the generated code of the YARN protocol messages
// (yarn.proto: Hadoop's message names and field numbers under the proto
// package dagflow.yarn) spoken by package yarn and internal/yarntest.
package yarnpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative yarn.proto
