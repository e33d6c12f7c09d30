package worker

import (
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/shuffle"
)

// The protocol types a worker shares with the master live in
// internal/protocol; these aliases keep the worker's own code short.
type (
	// TaskID is protocol.TaskID.
	TaskID = protocol.TaskID
	// InputChannel is protocol.InputChannel.
	InputChannel = protocol.InputChannel
	// InputGate is protocol.InputGate.
	InputGate = protocol.InputGate
	// OutputPartition is protocol.OutputPartition.
	OutputPartition = protocol.OutputPartition
	// TaskDeployment is protocol.TaskDeployment.
	TaskDeployment = protocol.TaskDeployment
	// SplitRequest is protocol.SplitRequest.
	SplitRequest = protocol.SplitRequest
	// SplitResponse is protocol.SplitResponse.
	SplitResponse = protocol.SplitResponse
	// SplitProvider is protocol.SplitProvider.
	SplitProvider = protocol.SplitProvider
	// TaskStatus is protocol.TaskStatus.
	TaskStatus = protocol.TaskStatus
	// InputError is protocol.InputError.
	InputError = protocol.InputError
	// RestoreError is protocol.RestoreError.
	RestoreError = protocol.RestoreError
	// PanicError is protocol.PanicError.
	PanicError = protocol.PanicError
	// VertexMetrics is protocol.VertexMetrics.
	VertexMetrics = protocol.VertexMetrics
	// MetricsReport is protocol.MetricsReport.
	MetricsReport = protocol.MetricsReport
	// CheckpointTrigger is protocol.CheckpointTrigger.
	CheckpointTrigger = protocol.CheckpointTrigger
	// CheckpointNotice is protocol.CheckpointNotice.
	CheckpointNotice = protocol.CheckpointNotice
	// TaskAck is protocol.TaskAck.
	TaskAck = protocol.TaskAck
	// CheckpointDecline is protocol.CheckpointDecline.
	CheckpointDecline = protocol.CheckpointDecline
	// CheckpointReport is protocol.CheckpointReport.
	CheckpointReport = protocol.CheckpointReport
	// TaskRestore is protocol.TaskRestore.
	TaskRestore = protocol.TaskRestore
	// VertexRestore is protocol.VertexRestore.
	VertexRestore = protocol.VertexRestore
)

// ShuffleResolver finds the shuffle service at a location.
type ShuffleResolver interface {
	Resolve(location string) (shuffle.Service, error)
}
