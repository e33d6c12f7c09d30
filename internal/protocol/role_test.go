package protocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// childEnv makes the test binary serve a role (TestMain) instead of
// running the tests: the real-process side of Call.
const childEnv = "PROTOCOL_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		fmt.Println("user code may print on stdout") // must not disturb the result
		os.Exit(Serve(context.Background(), RoleFromEnv(), testHandlers(), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testHandlers: vertex 1 panics, vertex 2 fails, vertex 3 fails fatally;
// others answer.
func testHandlers() Handlers {
	fail := func(vertex int) error {
		switch vertex {
		case 1:
			panic(fmt.Sprintf("bug in vertex %d", vertex))
		case 2:
			return errors.New("transient trouble")
		case 3:
			return dag.Fatal(errors.New("bad input"))
		}
		return nil
	}
	return Handlers{
		Plan: func(context.Context) (*dag.Plan, map[int][]dag.Split, error) {
			return &dag.Plan{Job: "j"}, map[int][]dag.Split{0: {{ID: "s0", Data: []byte("d"), Weight: 7}}}, nil
		},
		Commit: func(_ context.Context, vertex int, abort bool, committables [][]byte) error {
			if err := fail(vertex); err != nil {
				return err
			}
			if abort || len(committables) != 1 {
				return fmt.Errorf("got abort=%v with %d committables", abort, len(committables))
			}
			return nil
		},
		MoreSplits: func(_ context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error) {
			if err := fail(vertex); err != nil {
				return nil, false, err
			}
			return []dag.Split{{ID: fmt.Sprintf("r%d-after-%d", round, len(finished))}}, true, nil
		},
	}
}

func TestServeExitCodes(t *testing.T) {
	more := func(v int32) []byte {
		b, _ := proto.Marshal(&rpcpb.MoreSplitsRequest{Vertex: v, Round: 1})
		return b
	}
	commit := func(v int32) []byte {
		b, _ := proto.Marshal(&rpcpb.CommitRequest{Vertex: v, Action: rpcpb.CommitRequest_ACTION_COMMIT, Committables: [][]byte{{1}}})
		return b
	}
	tests := []struct {
		name   string
		role   Role
		in     []byte
		code   int
		stderr string
	}{
		{"more-splits ok", RoleMoreSplits, more(0), 0, ""},
		{"more-splits panic is fatal", RoleMoreSplits, more(1), ExitFatal, "panic in more-splits mode: bug in vertex 1"},
		{"more-splits error is retried", RoleMoreSplits, more(2), 1, "transient trouble"},
		{"more-splits fatal error", RoleMoreSplits, more(3), ExitFatal, "bad input"},
		{"commit ok", RoleCommit, commit(0), 0, ""},
		{"commit panic is not fatal", RoleCommit, commit(1), 1, "panic in commit mode: bug in vertex 1"},
		{"commit without action", RoleCommit, []byte{8, 4}, 1, "vertex 4: unknown action"},
		{"garbage request", RoleMoreSplits, []byte{0xff, 0xff}, 1, "decode more-splits request"},
		{"unknown role", Role("dance"), nil, 1, `unknown DAGFLOW_MODE "dance"`},
		{"role without handler", RoleExecutor, nil, 1, `unknown DAGFLOW_MODE "executor"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Serve(context.Background(), tt.role, testHandlers(), bytes.NewReader(tt.in), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

// TestCallRealProcess runs the test binary as a job process in every
// role: results arrive through user output on stdout, a panicking dynamic
// enumerator is a fatal error and a failing one is not.
func TestCallRealProcess(t *testing.T) {
	ctx := context.Background()
	p := Process{Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{childEnv + "=1"}}

	var sub rpcpb.Submission
	if err := Call(ctx, p, RolePlan, nil, &sub); err != nil {
		t.Fatal(err)
	}
	plan, splits, err := DecodeSubmission(&sub)
	if err != nil || plan.Job != "j" || len(splits[0]) != 1 || splits[0][0].ID != "s0" || string(splits[0][0].Data) != "d" || splits[0][0].Weight != 7 {
		t.Fatalf("plan role gave %+v %v %v", plan, splits, err)
	}

	var resp rpcpb.MoreSplitsResponse
	req := &rpcpb.MoreSplitsRequest{Vertex: 0, Round: 2, Finished: FinishedToProto([]dag.FinishedSplit{{ID: "a"}, {ID: "b", Report: []byte("r")}})}
	if err := Call(ctx, p, RoleMoreSplits, req, &resp); err != nil {
		t.Fatal(err)
	}
	if got := SplitsFromProto(resp.Splits); len(got) != 1 || got[0].ID != "r2-after-2" || !resp.Done {
		t.Fatalf("more-splits role gave %v done=%v", got, resp.Done)
	}

	err = Call(ctx, p, RoleMoreSplits, &rpcpb.MoreSplitsRequest{Vertex: 1, Round: 1}, &resp)
	if !dag.IsFatal(err) || !strings.Contains(err.Error(), "bug in vertex 1") {
		t.Fatalf("panicking enumerator: %v, want a fatal error carrying the panic", err)
	}
	err = Call(ctx, p, RoleMoreSplits, &rpcpb.MoreSplitsRequest{Vertex: 2, Round: 1}, &resp)
	if err == nil || dag.IsFatal(err) || !strings.Contains(err.Error(), "transient trouble") {
		t.Fatalf("failing enumerator: %v, want a non-fatal error", err)
	}
	commit := &rpcpb.CommitRequest{Vertex: 0, Action: rpcpb.CommitRequest_ACTION_COMMIT, Committables: [][]byte{{1}}}
	if err := Call(ctx, p, RoleCommit, commit, nil); err != nil {
		t.Fatal(err)
	}

	// A binary that exits 0 without serving the role printed no result.
	silent, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true command")
	}
	if err := Call(ctx, Process{Path: silent}, RolePlan, nil, &sub); !errors.Is(err, ErrNoResult) {
		t.Fatalf("silent binary: %v, want ErrNoResult", err)
	}
}

func TestSourceSplitsFromProtoRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []*rpcpb.SourceSplits
		want string
	}{
		{"negative vertex", []*rpcpb.SourceSplits{{Vertex: -2}}, "entry 0 names vertex -2"},
		{"duplicate vertex", []*rpcpb.SourceSplits{{Vertex: 1}, {Vertex: 1}}, "entry 1 names vertex 1 again"},
	}
	for _, tt := range tests {
		if _, err := SourceSplitsFromProto(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
