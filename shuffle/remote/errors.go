package remote

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

// ErrNotSupported is returned by the write-side methods of a Client
// (CreateWriter, Release): remote services are read-only.
var ErrNotSupported = errors.New("shuffle/remote: not supported remotely")

// Error is a failure reported by a remote shuffle server, or of the
// connection to it. It wraps the shuffle sentinel errors the server-side
// error wrapped (errors.Is(err, shuffle.ErrNotExist) and so on hold on the
// client as on the server); a lost or unreachable server wraps
// shuffle.ErrNotExist, since its partitions are lost with it.
//
// The identity of other errors the server-side error wrapped (such as the
// cause a producer passed to Writer.Abort) does not cross the process
// boundary; their text is in Message.
type Error struct {
	Addr      string              // server address
	Partition shuffle.PartitionID // partition read or stat'ed
	Code      codes.Code          // gRPC status code
	Message   string              // the server's error text, or what went wrong locally
	sentinels []error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Partition == (shuffle.PartitionID{}) {
		return fmt.Sprintf("shuffle/remote: %s: %s", e.Addr, e.Message)
	}
	return fmt.Sprintf("shuffle/remote: partition %s at %s: %s", e.Partition, e.Addr, e.Message)
}

// Unwrap returns the shuffle sentinel errors e wraps.
func (e *Error) Unwrap() []error { return e.sentinels }

// kindErrs pairs wire error kinds with sentinels, in the order that picks
// the status code of an error wrapping several.
var kindErrs = [...]struct {
	kind shufflepb.ErrorKind
	err  error
	code codes.Code
}{
	{shufflepb.ErrorKind_ERROR_KIND_CORRUPT, shuffle.ErrCorrupt, codes.DataLoss},
	{shufflepb.ErrorKind_ERROR_KIND_ABORTED, shuffle.ErrAborted, codes.Aborted},
	{shufflepb.ErrorKind_ERROR_KIND_NOT_EXIST, shuffle.ErrNotExist, codes.NotFound},
	{shufflepb.ErrorKind_ERROR_KIND_CLOSED, shuffle.ErrClosed, codes.Unavailable},
	{shufflepb.ErrorKind_ERROR_KIND_EXIST, shuffle.ErrExist, codes.AlreadyExists},
}

// toStatus converts a server-side error to a gRPC status error whose
// ErrorDetail lists the sentinels err wraps.
func toStatus(err error) error {
	code := codes.Unknown
	var kinds []shufflepb.ErrorKind
	for _, k := range kindErrs {
		if errors.Is(err, k.err) {
			if kinds == nil {
				code = k.code
			}
			kinds = append(kinds, k.kind)
		}
	}
	if kinds == nil {
		switch {
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		}
	}
	st := status.New(code, err.Error())
	if withDetail, derr := st.WithDetails(&shufflepb.ErrorDetail{Kinds: kinds}); derr == nil {
		st = withDetail
	}
	return st.Err()
}

// fromStatus converts an error returned by a gRPC call to an *Error. It
// returns nil, false if err carries no gRPC status.
func fromStatus(addr string, id shuffle.PartitionID, err error) (*Error, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	e := &Error{Addr: addr, Partition: id, Code: st.Code(), Message: st.Message()}
	for _, d := range st.Details() {
		detail, ok := d.(*shufflepb.ErrorDetail)
		if !ok {
			continue
		}
		for _, kind := range detail.GetKinds() {
			for _, k := range kindErrs {
				if k.kind == kind {
					e.sentinels = append(e.sentinels, k.err)
				}
			}
		}
		// A remote service that was closed took its partitions with it.
		if errors.Is(e, shuffle.ErrClosed) && !errors.Is(e, shuffle.ErrNotExist) {
			e.Message += " (its partitions are lost)"
			e.sentinels = append(e.sentinels, shuffle.ErrNotExist)
		}
		return e, true
	}
	// No detail: an error of the transport or of a server that is not
	// ours. A lost connection loses the server's partitions.
	switch st.Code() {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		e.Message = "connection lost: " + e.Message
		e.sentinels = []error{shuffle.ErrNotExist}
	}
	return e, true
}

// localError makes an *Error for a failure detected by the client.
func localError(addr string, id shuffle.PartitionID, code codes.Code, msg string, sentinels ...error) *Error {
	return &Error{Addr: addr, Partition: id, Code: code, Message: msg, sentinels: sentinels}
}
