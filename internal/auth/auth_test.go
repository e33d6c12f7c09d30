package auth

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/devca"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		in      string
		want    []Principal
		wantErr string
	}{
		{"tokens with comments", "token", "# users\n\ns3cret-a alice admin\ns3cret-b bob view # read only\ns3cret-c carol view,submit\n",
			[]Principal{{"s3cret-a", "alice", RoleAdmin}, {"s3cret-b", "bob", RoleView}, {"s3cret-c", "carol", RoleSubmit}}, ""},
		{"cert map", "cert", "alice.example alice submit\n", []Principal{{"alice.example", "alice", RoleSubmit}}, ""},
		{"empty", "token", "# nothing\n", nil, ""},
		{"too few fields", "token", "tok alice\n", nil, `f:1: want 3 fields "TOKEN USER ROLE[,ROLE]", got 2`},
		{"too many fields", "cert", "\ncn u view extra\n", nil, `f:2: want 3 fields "CERT USER ROLE[,ROLE]", got 4`},
		{"unknown role", "token", "tok alice root\n", nil, `f:1: auth: unknown role "root" (want view, submit or admin)`},
		{"empty role", "token", "tok alice view,\n", nil, `unknown role ""`},
		{"bad user", "token", "tok al/ice view\n", nil, `user name "al/ice": character '/'`},
		{"duplicate token", "token", "same-secret a view\nsame-secret b view\n", nil, "f:2: the same token is already on line 1"},
		{"duplicate cn", "cert", "cn a view\ncn b view\n", nil, `f:2: CN "cn" is already mapped on line 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFile(strings.NewReader(tc.in), "f", tc.kind)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "same-secret") {
					t.Fatalf("error echoes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("entry %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func cert(cn string, uris ...string) [][]*x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			panic(err)
		}
		c.URIs = append(c.URIs, pu)
	}
	return [][]*x509.Certificate{{c}}
}

func TestAuthenticate(t *testing.T) {
	a := NewAuthenticator(
		[]Principal{{"tok-admin", "alice", RoleAdmin}, {"tok-view", "bob", RoleView}},
		[]Principal{{"carol-laptop", "carol", RoleSubmit}},
	)
	tests := []struct {
		name    string
		header  string
		chains  [][]*x509.Certificate
		want    Identity
		wantErr error
	}{
		{"admin token", "Bearer tok-admin", nil, Identity{Name: "alice", Role: RoleAdmin, Via: "token"}, nil},
		{"scheme case and spaces", "  bearer   tok-view ", nil, Identity{Name: "bob", Role: RoleView, Via: "token"}, nil},
		{"token wins over certificate", "Bearer tok-view", cert("carol-laptop"), Identity{Name: "bob", Role: RoleView, Via: "token"}, nil},
		{"unknown token", "Bearer tok-nope", cert("carol-laptop"), Identity{}, ErrUnknownToken},
		{"prefix of a token", "Bearer tok-admi", nil, Identity{}, ErrUnknownToken},
		{"basic auth", "Basic YWxpY2U6eA==", nil, Identity{}, ErrBadHeader},
		{"bearer without token", "Bearer", nil, Identity{}, ErrBadHeader},
		{"mapped certificate", "", cert("carol-laptop"), Identity{Name: "carol", Role: RoleSubmit, Via: "certificate"}, nil},
		{"unmapped certificate", "", cert("zed"), Identity{Name: "zed", Via: "certificate"}, nil},
		{"node certificate", "", cert("worker-1", "https://example.com/x", "dagflow://node/worker-1"), Identity{Name: "worker-1", Node: true, Via: "certificate"}, nil},
		{"node URI with a path is not a node", "", cert("x", "dagflow://node/a/b"), Identity{Name: "x", Via: "certificate"}, nil},
		{"nothing", "", nil, Identity{}, ErrNoCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.Authenticate(tc.header, tc.chains)
			if err != tc.wantErr {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("identity = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNodeURIMatchesDevCA(t *testing.T) {
	if got := devca.NodeURI("w1").String(); got != NodeURIPrefix+"w1" {
		t.Fatalf("devca.NodeURI = %s, want %s", got, NodeURIPrefix+"w1")
	}
}

func TestAllow(t *testing.T) {
	p := DefaultPolicy()
	admin := Identity{Name: "alice", Role: RoleAdmin}
	submitter := Identity{Name: "carol", Role: RoleSubmit}
	viewer := Identity{Name: "bob", Role: RoleView}
	nobody := Identity{Name: "zed"}
	worker := Identity{Name: "w1", Node: true}
	tests := []struct {
		id      Identity
		method  string
		wantErr string
	}{
		{viewer, rpcpb.Master_JobStatus_FullMethodName, ""},
		{viewer, rpcpb.Master_ListJobs_FullMethodName, ""},
		{viewer, rpcpb.Master_CancelJob_FullMethodName, "user bob (role view) may not call Master/CancelJob (needs role submit)"},
		{viewer, rpcpb.Master_SubmitJob_FullMethodName, "needs role submit"},
		{submitter, rpcpb.Master_SubmitJob_FullMethodName, ""},
		{submitter, rpcpb.Master_TriggerSavepoint_FullMethodName, ""},
		{submitter, rpcpb.Master_JobLogs_FullMethodName, ""},
		{admin, rpcpb.Master_CancelJob_FullMethodName, ""},
		{admin, rpcpb.Master_ReportTask_FullMethodName, "user alice (role admin) may not call Master/ReportTask (needs a node certificate)"},
		{admin, rpcpb.Worker_DeployTask_FullMethodName, "needs a node certificate"},
		{nobody, rpcpb.Master_JobStatus_FullMethodName, "user zed (role none) may not call Master/JobStatus (needs role view)"},
		{worker, rpcpb.Master_ReportTask_FullMethodName, ""},
		{worker, rpcpb.Master_ListJobs_FullMethodName, ""},
		{worker, rpcpb.ShuffleDaemon_Adopt_FullMethodName, ""},
		{worker, shufflepb.ShuffleService_Read_FullMethodName, ""},
		{worker, rpcpb.Master_SubmitJob_FullMethodName, "node w1 may not call Master/SubmitJob (needs role submit)"},
		{viewer, rpcpb.ShuffleDaemon_ListJobs_FullMethodName, ""},
		{nobody, rpcpb.ShuffleDaemon_ListJobs_FullMethodName, "(needs role view or a node certificate)"},
		{Identity{}, "/grpc.health.v1.Health/Check", ""},
	}
	for _, tc := range tests {
		t.Run(tc.id.Name+" "+ShortMethod(tc.method), func(t *testing.T) {
			rule, ok := p[tc.method]
			if !ok {
				t.Fatalf("no rule for %s", tc.method)
			}
			err := Allow(tc.id, ShortMethod(tc.method), rule)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestPolicyCoversEveryMethod fails when a method is added to a service
// without an access rule (it would be denied to everyone).
func TestPolicyCoversEveryMethod(t *testing.T) {
	p := DefaultPolicy()
	descs := []grpc.ServiceDesc{rpcpb.Master_ServiceDesc, rpcpb.Worker_ServiceDesc, rpcpb.Executor_ServiceDesc, rpcpb.ShuffleDaemon_ServiceDesc, shufflepb.ShuffleService_ServiceDesc,
		rpcpb.Reconcile_ServiceDesc, rpcpb.ExecutorReconcile_ServiceDesc}
	n := 0
	for _, d := range descs {
		for _, m := range d.Methods {
			n++
			if _, ok := p["/"+d.ServiceName+"/"+m.MethodName]; !ok {
				t.Errorf("no rule for /%s/%s", d.ServiceName, m.MethodName)
			}
		}
		for _, m := range d.Streams {
			n++
			if _, ok := p["/"+d.ServiceName+"/"+m.StreamName]; !ok {
				t.Errorf("no rule for /%s/%s", d.ServiceName, m.StreamName)
			}
		}
	}
	if len(p) != n+2 { // + health Check and Watch
		t.Errorf("policy has %d rules for %d methods (+2 health): stale entries?", len(p), n)
	}
}

func TestShortMethod(t *testing.T) {
	for in, want := range map[string]string{
		"/dagflow.cluster.v1.Master/CancelJob": "Master/CancelJob",
		"/Svc/M":                               "Svc/M",
		"nonsense":                             "nonsense",
	} {
		if got := ShortMethod(in); got != want {
			t.Errorf("ShortMethod(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckNodeName(t *testing.T) {
	bg := context.Background()
	tests := []struct {
		name    string
		ctx     context.Context
		wantErr string
	}{
		{"auth off", bg, ""},
		{"same node", WithIdentity(bg, Identity{Name: "w1", Node: true}), ""},
		{"other node", WithIdentity(bg, Identity{Name: "w2", Node: true}), "node w2 may not register as node w1"},
		{"a user", WithIdentity(bg, Identity{Name: "alice", Role: RoleAdmin}), "user alice (role admin) may not register as node w1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNodeName(tc.ctx, "w1")
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want PermissionDenied %q", err, tc.wantErr)
			}
		})
	}
}
