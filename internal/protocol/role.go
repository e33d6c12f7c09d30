package protocol

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// Role is what a job binary does when a cluster starts it (EnvMode).
type Role string

// The roles of a job process.
const (
	// RoleNone: the binary runs its job on an embedded cluster.
	RoleNone Role = ""
	// RolePlan prints the plan and the first splits of every source
	// (dagctl submit). Result: rpcpb.Submission.
	RolePlan Role = "plan"
	// RoleExecutor runs tasks for a worker daemon until it is stopped.
	RoleExecutor Role = "executor"
	// RoleCommit commits or aborts a sink's output for the master. Input:
	// rpcpb.CommitRequest; no result.
	RoleCommit Role = "commit"
	// RoleMoreSplits enumerates the next round of a dynamic source for the
	// master. Input: rpcpb.MoreSplitsRequest; result:
	// rpcpb.MoreSplitsResponse. A panic in the enumerator is fatal.
	RoleMoreSplits Role = "more-splits"
)

// RoleFromEnv returns the role the environment gives this process.
func RoleFromEnv() Role { return Role(os.Getenv(EnvMode)) }

// Driver reports whether a process of role r builds and submits or runs
// the job itself (no role, plan), rather than serving a cluster.
func (r Role) Driver() bool { return r == RoleNone || r == RolePlan }

// resultPrefix starts the line on which a job process prints its result
// (base64 protobuf), so that whatever user code prints on standard output
// does not get in the way.
const resultPrefix = "DAGFLOW_RESULT "

// maxResult bounds a job process's standard output kept by Call.
const maxResult = 1 << 30

// Process is a job binary with its arguments and the environment
// settings of its job (KEY=VALUE, added to the parent's environment).
type Process struct {
	Path string
	Args []string
	Env  []string
}

// Launch returns the command that starts p in role r, with the parent's
// environment, p.Env, the role and extra settings; the caller wires its
// standard streams and runs it.
func Launch(ctx context.Context, p Process, r Role, extra ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.Path, p.Args...)
	env := append(os.Environ(), p.Env...)
	env = append(env, EnvMode+"="+string(r))
	cmd.Env = append(env, extra...)
	return cmd
}

// ErrNoResult is returned by Call when a job process exits successfully
// without printing its result (the binary does not serve the role: it
// does not call dagflow.Run).
var ErrNoResult = errors.New("protocol: job process printed no result")

// Call runs p in role r with req (nil: none) on its standard input and
// decodes the result it prints into resp (nil: none expected). A process
// that exits with ExitFatal fails with a dag.Fatal error; every failure
// carries the process's standard error.
func Call(ctx context.Context, p Process, r Role, req, resp proto.Message) error {
	cmd := Launch(ctx, p, r)
	if req != nil {
		in, err := proto.Marshal(req)
		if err != nil {
			return fmt.Errorf("protocol: encode %s request: %w", r, err)
		}
		cmd.Stdin = bytes.NewReader(in)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == ExitFatal {
			return dag.Fatal(fmt.Errorf("%s process: %v: %s", r, err, msg))
		}
		return fmt.Errorf("%s process: %v: %s", r, err, msg)
	}
	if resp == nil {
		return nil
	}
	return DecodeResult(&stdout, resp)
}

// DecodeResult reads a job process's standard output and decodes the
// last result line into resp.
func DecodeResult(stdout io.Reader, resp proto.Message) error {
	var last string
	sc := bufio.NewScanner(io.LimitReader(stdout, maxResult))
	sc.Buffer(make([]byte, 64<<10), maxResult)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			last = s
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("protocol: read job process output: %w", err)
	}
	if last == "" {
		return ErrNoResult
	}
	b, err := base64.StdEncoding.DecodeString(last)
	if err != nil {
		return fmt.Errorf("protocol: job process result is not base64: %w", err)
	}
	if err := proto.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("protocol: decode job process result: %w", err)
	}
	return nil
}

// writeResult prints msg as the process's result line.
func writeResult(w io.Writer, msg proto.Message) error {
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("protocol: encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "\n%s%s\n", resultPrefix, base64.StdEncoding.EncodeToString(b))
	return err
}

// Handlers are the child side of the roles: what Serve calls. A nil
// handler refuses its role.
type Handlers struct {
	// Plan returns the job's plan and the first splits of its sources.
	Plan func(ctx context.Context) (*dag.Plan, map[int][]dag.Split, error)
	// Executor serves as an executor until ctx ends or the worker stops
	// it.
	Executor func(ctx context.Context) error
	// Commit commits (abort false) or aborts a sink's committables.
	Commit func(ctx context.Context, vertex int, abort bool, committables [][]byte) error
	// MoreSplits enumerates round of a dynamic source.
	MoreSplits func(ctx context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error)
}

// maxRequest bounds the request a job process reads from standard input.
const maxRequest = 1 << 30

// Serve is the child side of a job process: it serves role r with h,
// reading its request from stdin and printing its result on stdout, and
// returns the process exit code: 0, ExitFatal for a fatal failure (a
// dag.Fatal error, a panic in a dynamic split enumerator) or 1. Failures
// and panics (with the user's stack) are written to stderr. User code runs
// on the calling goroutine.
func Serve(ctx context.Context, r Role, h Handlers, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	var err error
	defer func() {
		if err == nil {
			return
		}
		fmt.Fprintf(stderr, "dagflow %s: %v\n", r, err)
		var pe *PanicError
		switch {
		case dag.IsFatal(err), r == RoleMoreSplits && errors.As(err, &pe):
			code = ExitFatal
		default:
			code = 1
		}
	}()
	defer CatchPanic(&err, string(r)+" mode")
	err = serve(ctx, r, h, stdin, stdout)
	return 0
}

func serve(ctx context.Context, r Role, h Handlers, stdin io.Reader, stdout io.Writer) error {
	readReq := func(m proto.Message) error {
		b, err := io.ReadAll(io.LimitReader(stdin, maxRequest))
		if err != nil {
			return fmt.Errorf("read %s request: %w", r, err)
		}
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("decode %s request: %w", r, err)
		}
		return nil
	}
	switch {
	case r == RolePlan && h.Plan != nil:
		plan, splits, err := h.Plan(ctx)
		if err != nil {
			return err
		}
		sub, err := EncodeSubmission(plan, splits)
		if err != nil {
			return err
		}
		return writeResult(stdout, sub)
	case r == RoleExecutor && h.Executor != nil:
		return h.Executor(ctx)
	case r == RoleCommit && h.Commit != nil:
		var req rpcpb.CommitRequest
		if err := readReq(&req); err != nil {
			return err
		}
		var abort bool
		switch req.Action {
		case rpcpb.CommitRequest_ACTION_COMMIT:
		case rpcpb.CommitRequest_ACTION_ABORT:
			abort = true
		default:
			return fmt.Errorf("commit request for vertex %d: unknown action %v", req.Vertex, req.Action)
		}
		return h.Commit(ctx, int(req.Vertex), abort, req.Committables)
	case r == RoleMoreSplits && h.MoreSplits != nil:
		var req rpcpb.MoreSplitsRequest
		if err := readReq(&req); err != nil {
			return err
		}
		splits, done, err := h.MoreSplits(ctx, int(req.Vertex), int(req.Round), FinishedFromProto(req.Finished))
		if err != nil {
			return err
		}
		return writeResult(stdout, &rpcpb.MoreSplitsResponse{Splits: SplitsToProto(splits), Done: done})
	}
	return fmt.Errorf("unknown %s %q", EnvMode, r)
}
