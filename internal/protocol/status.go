package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/shuffle"
)

// wireStatus is TaskStatus as it crosses process boundaries: errors
// become text plus the facts the master acts on.
type wireStatus struct {
	Job          string           `json:"job"`
	ID           TaskID           `json:"id"`
	Attempt      int              `json:"attempt"`
	Error        string           `json:"error,omitempty"`
	Canceled     bool             `json:"canceled,omitempty"`
	Fatal        bool             `json:"fatal,omitempty"`
	LostInput    *lostInput       `json:"lostInput,omitempty"`
	Committables map[int][][]byte `json:"committables,omitempty"`
	External     bool             `json:"external,omitempty"`
	Locations    map[int]string   `json:"locations,omitempty"`
	LastCkpt     int64            `json:"lastCheckpoint,omitempty"`
	// RestoreFailed is the checkpoint whose state could not be restored.
	RestoreFailed int64 `json:"restoreFailed,omitempty"`
}

type lostInput struct {
	Partition shuffle.PartitionID `json:"partition"`
	Location  string              `json:"location"`
	Corrupt   bool                `json:"corrupt,omitempty"`
}

// MarshalStatus encodes a task status for the wire.
func MarshalStatus(st TaskStatus) ([]byte, error) {
	w := wireStatus{Job: st.Job, ID: st.ID, Attempt: st.Attempt, Committables: st.Committables,
		External: st.External, Locations: st.Locations, LastCkpt: st.LastCheckpoint}
	if st.Err != nil {
		w.Error = st.Err.Error()
		w.Canceled = errors.Is(st.Err, context.Canceled)
		w.Fatal = dag.IsFatal(st.Err)
		var re *RestoreError
		if errors.As(st.Err, &re) {
			w.RestoreFailed = re.Checkpoint
		}
		var ie *InputError
		if errors.As(st.Err, &ie) && (errors.Is(st.Err, shuffle.ErrNotExist) || errors.Is(st.Err, shuffle.ErrCorrupt)) {
			w.LostInput = &lostInput{Partition: ie.Partition, Location: ie.Location, Corrupt: errors.Is(st.Err, shuffle.ErrCorrupt)}
		}
	}
	return json.Marshal(w)
}

// UnmarshalStatus decodes a task status, rebuilding an error the master
// classifies the same way as the original.
func UnmarshalStatus(b []byte) (TaskStatus, error) {
	var w wireStatus
	if err := json.Unmarshal(b, &w); err != nil {
		return TaskStatus{}, fmt.Errorf("protocol: decode task status: %w", err)
	}
	st := TaskStatus{Job: w.Job, ID: w.ID, Attempt: w.Attempt, Committables: w.Committables,
		External: w.External, Locations: w.Locations, LastCheckpoint: w.LastCkpt}
	switch {
	case w.Error == "":
	case w.Canceled:
		st.Err = fmt.Errorf("%s: %w", w.Error, context.Canceled)
	case w.LostInput != nil:
		sentinel := shuffle.ErrNotExist
		if w.LostInput.Corrupt {
			sentinel = shuffle.ErrCorrupt
		}
		st.Err = &InputError{Partition: w.LostInput.Partition, Location: w.LostInput.Location, Err: fmt.Errorf("%s: %w", w.Error, sentinel)}
	case w.Fatal:
		st.Err = dag.Fatal(errors.New(w.Error))
	case w.RestoreFailed != 0:
		st.Err = &RestoreError{Checkpoint: w.RestoreFailed, Err: errors.New(w.Error)}
	default:
		st.Err = errors.New(w.Error)
	}
	return st, nil
}
