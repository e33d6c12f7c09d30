package worker

import (
	"github.com/dagflow/dagflow/internal/cluster"
	"github.com/dagflow/dagflow/shuffle"
)

// The protocol types a worker shares with the master live in
// internal/cluster; these aliases keep the worker's own code short.
type (
	// TaskID is cluster.TaskID.
	TaskID = cluster.TaskID
	// InputChannel is cluster.InputChannel.
	InputChannel = cluster.InputChannel
	// InputGate is cluster.InputGate.
	InputGate = cluster.InputGate
	// OutputPartition is cluster.OutputPartition.
	OutputPartition = cluster.OutputPartition
	// TaskDeployment is cluster.TaskDeployment.
	TaskDeployment = cluster.TaskDeployment
	// SplitRequest is cluster.SplitRequest.
	SplitRequest = cluster.SplitRequest
	// SplitResponse is cluster.SplitResponse.
	SplitResponse = cluster.SplitResponse
	// SplitProvider is cluster.SplitProvider.
	SplitProvider = cluster.SplitProvider
	// TaskStatus is cluster.TaskStatus.
	TaskStatus = cluster.TaskStatus
	// InputError is cluster.InputError.
	InputError = cluster.InputError
	// RestoreError is cluster.RestoreError.
	RestoreError = cluster.RestoreError
	// PanicError is cluster.PanicError.
	PanicError = cluster.PanicError
	// VertexMetrics is cluster.VertexMetrics.
	VertexMetrics = cluster.VertexMetrics
	// MetricsReport is cluster.MetricsReport.
	MetricsReport = cluster.MetricsReport
	// CheckpointTrigger is cluster.CheckpointTrigger.
	CheckpointTrigger = cluster.CheckpointTrigger
	// CheckpointNotice is cluster.CheckpointNotice.
	CheckpointNotice = cluster.CheckpointNotice
	// TaskAck is cluster.TaskAck.
	TaskAck = cluster.TaskAck
	// CheckpointDecline is cluster.CheckpointDecline.
	CheckpointDecline = cluster.CheckpointDecline
	// CheckpointReport is cluster.CheckpointReport.
	CheckpointReport = cluster.CheckpointReport
	// TaskRestore is cluster.TaskRestore.
	TaskRestore = cluster.TaskRestore
	// VertexRestore is cluster.VertexRestore.
	VertexRestore = cluster.VertexRestore
)

// ShuffleResolver finds the shuffle service at a location.
type ShuffleResolver interface {
	Resolve(location string) (shuffle.Service, error)
}
