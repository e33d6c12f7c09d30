package yarntest_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
	"github.com/dagflow/dagflow/internal/yarntest"
)

// env is a stand-in YARN cluster with an HDFS holding the helper AM
// binary, and a client of it.
type env struct {
	t      *testing.T
	yarn   *yarntest.Cluster
	hdfs   *hdfstest.Cluster
	client *yarn.Client
	am     *pb.LocalResourceProto
	stop   string
}

func newEnv(t *testing.T, opts yarntest.Options) *env {
	t.Helper()
	h := hdfstest.StartTest(t, hdfstest.Options{})
	y := yarntest.StartTest(t, opts)
	t.Setenv("HADOOP_CONF_DIR", y.ConfDir())
	t.Setenv("HADOOP_USER_NAME", "alice")
	cfg, err := yarn.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := yarn.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return &env{t: t, yarn: y, hdfs: h, client: cl, am: stageSelf(t, h), stop: filepath.Join(t.TempDir(), "stop")}
}

// stageSelf copies the test binary to HDFS and returns it as a
// LocalResource, as a submitting client stages the ApplicationMaster.
func stageSelf(t *testing.T, h *hdfstest.Cluster) *pb.LocalResourceProto {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{h.Addr()}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if err := fs.MkdirAll("/user/alice/.staging", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.CopyToRemote(self, "/user/alice/.staging/am"); err != nil {
		t.Fatal(err)
	}
	st, err := fs.Stat("/user/alice/.staging/am")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(h.Addr())
	p, _ := strconv.Atoi(port)
	return &pb.LocalResourceProto{
		Resource:   &pb.URLProto{Scheme: proto.String("hdfs"), Host: proto.String(host), Port: proto.Int32(int32(p)), File: proto.String("/user/alice/.staging/am")},
		Size:       proto.Int64(st.Size()),
		Timestamp:  proto.Int64(st.ModTime().UnixMilli()),
		Type:       pb.LocalResourceTypeProto_FILE.Enum(),
		Visibility: pb.LocalResourceVisibilityProto_APPLICATION.Enum(),
	}
}

type submitOpts struct {
	queue       string
	workers     int
	workerCmd   string
	keep        bool
	maxAttempts int32
	noTokens    string // YARNTEST_NO_TOKENS of the helper AM
	tokens      []byte // the AM's ContainerLaunchContextProto.tokens
}

// submit starts the helper AM as an application and returns its id.
func (e *env) submit(ctx context.Context, o submitOpts) (yarn.ApplicationID, error) {
	e.t.Helper()
	na, err := e.client.NewApplication(ctx)
	if err != nil {
		return yarn.ApplicationID{}, err
	}
	if o.queue == "" {
		o.queue = "default"
	}
	if o.workerCmd == "" {
		o.workerCmd = "exec sleep 600"
	}
	kv := func(k, v string) *pb.StringStringMapProto {
		return &pb.StringStringMapProto{Key: proto.String(k), Value: proto.String(v)}
	}
	sub := &pb.ApplicationSubmissionContextProto{
		ApplicationId:                           na.GetApplicationId(),
		ApplicationName:                         proto.String("helper"),
		Queue:                                   proto.String(o.queue),
		ApplicationType:                         proto.String("DAGFLOW"),
		Resource:                                &pb.ResourceProto{Memory: proto.Int64(256), VirtualCores: proto.Int32(1)},
		MaxAppAttempts:                          proto.Int32(o.maxAttempts),
		KeepContainersAcrossApplicationAttempts: proto.Bool(o.keep),
		AmContainerSpec: &pb.ContainerLaunchContextProto{
			LocalResources: []*pb.StringLocalResourceMapProto{{Key: proto.String("am"), Value: e.am}},
			Environment: []*pb.StringStringMapProto{
				kv("YARNTEST_AM", "1"), kv("HADOOP_USER_NAME", "alice"),
				kv("YARNTEST_WORKERS", strconv.Itoa(o.workers)), kv("YARNTEST_WORKER_CMD", o.workerCmd), kv("YARNTEST_STOP", e.stop),
				kv("YARNTEST_NO_TOKENS", o.noTokens),
			},
			Tokens:  o.tokens,
			Command: []string{"{{PWD}}/am", "1><LOG_DIR>/stdout", "2><LOG_DIR>/stderr"},
		},
	}
	id := yarn.AppIDFromProto(na.GetApplicationId())
	return id, e.client.SubmitApplication(ctx, sub)
}

func (e *env) wait(ctx context.Context, what string, cond func(*yarntest.Cluster) bool) {
	e.t.Helper()
	if err := e.yarn.Wait(ctx, cond); err != nil {
		e.dumpLogs()
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// dumpLogs logs the ApplicationMasters' stderr, for failures.
func (e *env) dumpLogs() {
	matches, _ := filepath.Glob(filepath.Join(e.yarn.ConfDir(), "..", "nm*", "logs", "*", "*", "stderr"))
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		e.t.Logf("%s:\n%s", m, b)
	}
}

func (e *env) finish(ctx context.Context, id yarn.ApplicationID) *pb.ApplicationReportProto {
	e.t.Helper()
	if err := os.WriteFile(e.stop, nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
	r, err := e.client.WaitApplication(ctx, id, func(*pb.ApplicationReportProto) bool { return false })
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestApplicationRunsContainers runs the helper AM (localized from HDFS)
// with two workers that print their YARN environment and succeed.
func TestApplicationRunsContainers(t *testing.T) {
	e := newEnv(t, yarntest.Options{Nodes: 2})
	ctx := testContext(t)
	m, err := e.client.ClusterMetrics(ctx)
	if err != nil || m.GetNumNodeManagers() != 2 || m.GetNumActiveNms() != 2 {
		t.Fatalf("cluster metrics: %v %v", m, err)
	}
	nodes, err := e.client.ClusterNodes(ctx, pb.NodeStateProto_NS_RUNNING)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("cluster nodes: %v %v", nodes, err)
	}
	// A delegation token shipped by the submitter reaches the AM's
	// credentials file next to its AMRMToken.
	var shipped hadooprpc.Credentials
	shipped.AddToken("hdfs", hadooprpc.Token{Identifier: []byte("dt"), Password: []byte("pw"), Kind: yarn.KindHDFSDelegationToken, Service: "127.0.0.1:8020"})
	id, err := e.submit(ctx, submitOpts{workers: 2, tokens: shipped.Marshal(),
		workerCmd: `echo "$GREETING from $CONTAINER_ID on $NM_HOST:$NM_PORT http $NM_HTTP_PORT local $LOCAL_DIRS logs $LOG_DIRS"`})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.client.WaitApplication(ctx, id, func(*pb.ApplicationReportProto) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if r.GetYarnApplicationState() != pb.YarnApplicationStateProto_FINISHED || r.GetFinalApplicationStatus() != pb.FinalApplicationStatusProto_APP_SUCCEEDED {
		t.Fatalf("application ended %s/%s: %s", r.GetYarnApplicationState(), r.GetFinalApplicationStatus(), r.GetDiagnostics())
	}
	if want := "adopted=0 started=2 lost=0 preempted=0 succeeded=2"; r.GetDiagnostics() != want {
		t.Fatalf("diagnostics %q, want %q", r.GetDiagnostics(), want)
	}
	if r.GetHost() != "127.0.0.1" || r.GetRpcPort() != 4242 || !strings.HasSuffix(r.GetTrackingUrl(), id.String()) {
		t.Fatalf("report does not carry the AM's registration: %v", r)
	}
	cs := e.yarn.Containers(id.String())
	if len(cs) != 3 || !cs[0].AM {
		t.Fatalf("containers: %+v", cs)
	}
	creds, err := hadooprpc.ReadCredentialsFile(filepath.Join(cs[0].WorkDir, "container_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := creds.TokenOfKind(yarn.KindAMRMToken); !ok {
		t.Errorf("the AM's credentials have no AMRMToken: %+v", creds)
	}
	if dt, ok := creds.TokenOfKind(yarn.KindHDFSDelegationToken); !ok || string(dt.Identifier) != "dt" {
		t.Errorf("the AM's credentials lack the shipped delegation token: %+v", creds)
	}
	if e.yarn.Count("startContainers") != 2 {
		t.Errorf("startContainers called %d times, want 2 (one per worker, each authenticated by an NMToken)", e.yarn.Count("startContainers"))
	}
	for _, c := range cs[1:] {
		out, err := os.ReadFile(filepath.Join(c.LogDir, "stdout"))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSpace(string(out))
		if !strings.HasPrefix(got, "hello from "+c.ID+" on 127.0.0.1:") || !strings.Contains(got, "logs "+c.LogDir) || !strings.Contains(got, "local ") {
			t.Errorf("container %s printed %q", c.ID, got)
		}
		if c.ExitCode != 0 {
			t.Errorf("container %s exit %d", c.ID, c.ExitCode)
		}
	}
	apps, err := e.client.Applications(ctx, &pb.GetApplicationsRequestProto{ApplicationTypes: []string{"DAGFLOW"}})
	if err != nil || len(apps) != 1 || yarn.AppIDFromProto(apps[0].GetApplicationId()) != id {
		t.Fatalf("applications: %v %v", apps, err)
	}
}

// TestUnknownQueue: the ResourceManager's message reaches the submitter.
func TestUnknownQueue(t *testing.T) {
	e := newEnv(t, yarntest.Options{})
	_, err := e.submit(testContext(t), submitOpts{queue: "nope"})
	if err == nil || !strings.Contains(err.Error(), "submitted by user alice to unknown queue: nope") {
		t.Fatalf("got %v, want the ResourceManager's unknown-queue message", err)
	}
}

// TestUnparsableLaunchTokens: tokens that are not Hadoop Credentials are
// refused at submission with the ResourceManager's message.
func TestUnparsableLaunchTokens(t *testing.T) {
	e := newEnv(t, yarntest.Options{})
	_, err := e.submit(testContext(t), submitOpts{tokens: []byte("not credentials")})
	if err == nil || !strings.Contains(err.Error(), "Unable to parse credentials") || !strings.Contains(err.Error(), "HDTS") {
		t.Fatalf("got %v, want the ResourceManager's credentials parse error", err)
	}
}

// TestTokensRequired: an ApplicationMaster without its AMRMToken is
// refused by the scheduler, and one without NMTokens by the NodeManager,
// with errors naming the missing token; the attempt fails with it.
func TestTokensRequired(t *testing.T) {
	for _, tc := range []struct {
		noTokens string
		want     []string
	}{
		{"am", []string{"SIMPLE authentication is not enabled.  Available:[TOKEN]", "no AMRMToken"}},
		{"nm", []string{"startContainers on 127.0.0.1:", "SIMPLE authentication is not enabled.  Available:[TOKEN]", "no NMToken for 127.0.0.1:"}},
	} {
		t.Run(tc.noTokens, func(t *testing.T) {
			e := newEnv(t, yarntest.Options{})
			ctx := testContext(t)
			id, err := e.submit(ctx, submitOpts{workers: 1, maxAttempts: 1, noTokens: tc.noTokens})
			if err != nil {
				t.Fatal(err)
			}
			r, err := e.client.WaitApplication(ctx, id, func(*pb.ApplicationReportProto) bool { return false })
			if err != nil {
				t.Fatal(err)
			}
			if r.GetFinalApplicationStatus() != pb.FinalApplicationStatusProto_APP_FAILED {
				t.Fatalf("application ended %s: %s", r.GetFinalApplicationStatus(), r.GetDiagnostics())
			}
			for _, w := range tc.want {
				if !strings.Contains(r.GetDiagnostics(), w) {
					t.Errorf("diagnostics lack %q:\n%s", w, r.GetDiagnostics())
				}
			}
		})
	}
}

// TestUnreachableResourceManager: the error names the address.
func TestUnreachableResourceManager(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl, err := yarn.NewClient(&yarn.Config{ResourceManagers: []yarn.ResourceManager{{Address: addr}}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.NewApplication(testContext(t))
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "no ResourceManager answered") {
		t.Fatalf("got %v, want an error naming %s", err, addr)
	}
}

// TestKillApplication kills a running application and its containers.
func TestKillApplication(t *testing.T) {
	e := newEnv(t, yarntest.Options{})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "a running worker", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 2 })
	if _, err := e.client.KillApplication(ctx, id, "test over"); err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "no running container", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 0 })
	r, err := e.client.ApplicationReport(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetYarnApplicationState() != pb.YarnApplicationStateProto_KILLED || !strings.Contains(r.GetDiagnostics(), "test over") {
		t.Fatalf("report after kill: %v", r)
	}
}

// TestKilledContainerIsReplaced: a SIGKILLed worker is reported completed
// (exit 137) to the AM, which asks for and gets a replacement.
func TestKilledContainerIsReplaced(t *testing.T) {
	e := newEnv(t, yarntest.Options{})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "two workers", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 3 })
	victim := e.yarn.Containers(id.String())[1]
	if err := e.yarn.KillContainer(victim.ID); err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "a replacement", func(c *yarntest.Cluster) bool {
		return len(c.Containers(id.String())) == 4 && c.RunningContainers(id.String()) == 3
	})
	if got := e.yarn.Containers(id.String())[1]; got.ExitCode != 137 {
		t.Fatalf("killed container exit %d, want 137", got.ExitCode)
	}
	r := e.finish(ctx, id)
	if want := "adopted=0 started=3 lost=1 preempted=0 succeeded=0"; r.GetDiagnostics() != want {
		t.Fatalf("diagnostics %q, want %q", r.GetDiagnostics(), want)
	}
	e.wait(ctx, "released workers", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 0 })
}

// TestAttemptKeepsContainers: with keep_containers_across_application_attempts
// the second attempt is told about the running workers and adopts them.
func TestAttemptKeepsContainers(t *testing.T) {
	e := newEnv(t, yarntest.Options{})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 2, keep: true})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "two workers", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 3 })
	workers := e.yarn.Containers(id.String())[1:]
	if err := e.yarn.FailAttempt(id.String()); err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "the second attempt", func(c *yarntest.Cluster) bool { return c.Attempts(id.String()) == 2 && c.Registered(id.String()) })
	r := e.finish(ctx, id)
	if want := "adopted=2 started=0 lost=0 preempted=0 succeeded=0"; r.GetDiagnostics() != want {
		t.Fatalf("diagnostics %q, want %q", r.GetDiagnostics(), want)
	}
	for _, w := range workers {
		for _, c := range e.yarn.Containers(id.String()) {
			if c.ID == w.ID && c.ExitCode != -100 {
				t.Errorf("worker %s of attempt 1 ended with %d before the release", w.ID, c.ExitCode)
			}
		}
	}
}

// TestAttemptsExhausted: an AM that keeps failing fails the application
// with the ResourceManager's diagnostics.
func TestAttemptsExhausted(t *testing.T) {
	e := newEnv(t, yarntest.Options{MaxAttempts: 2})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 0})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		e.wait(ctx, "a registered attempt", func(c *yarntest.Cluster) bool { return c.Registered(id.String()) })
		n := 0
		e.yarn.Wait(ctx, func(c *yarntest.Cluster) bool { n = c.Attempts(id.String()); return true })
		if err := e.yarn.FailAttempt(id.String()); err != nil {
			t.Fatal(err)
		}
		e.wait(ctx, "the attempt's end", func(c *yarntest.Cluster) bool {
			st, _, _ := c.AppState(id.String())
			return c.Attempts(id.String()) > n || yarn.Finished(st)
		})
	}
	r, err := e.client.WaitApplication(ctx, id, func(*pb.ApplicationReportProto) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if r.GetYarnApplicationState() != pb.YarnApplicationStateProto_FAILED || !strings.Contains(r.GetDiagnostics(), "failed 2 times due to AM Container") || !strings.Contains(r.GetDiagnostics(), "exitCode: 137") {
		t.Fatalf("report: %s %q", r.GetYarnApplicationState(), r.GetDiagnostics())
	}
}

// TestResourceManagerFailover: the client and the AM fail over to the
// other ResourceManager of an HA pair.
func TestResourceManagerFailover(t *testing.T) {
	e := newEnv(t, yarntest.Options{HA: true})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "a worker", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 2 })
	e.yarn.Failover()
	r := e.finish(ctx, id)
	if r.GetFinalApplicationStatus() != pb.FinalApplicationStatusProto_APP_SUCCEEDED {
		t.Fatalf("report: %v", r)
	}
	if e.yarn.Count("standbyRejected") == 0 {
		t.Fatal("no call reached the standby ResourceManager: the failover was not exercised")
	}
}

// TestLostNode: the workers of a lost node are reported ABORTED and
// replaced on the other node.
func TestLostNode(t *testing.T) {
	e := newEnv(t, yarntest.Options{Nodes: 2, NodeMemoryMB: 1024})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "three workers", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 4 })
	cs := e.yarn.Containers(id.String())
	amNode := cs[0].Node
	other := 1 - amNode
	lostN := 0
	for _, c := range cs[1:] {
		if c.Node == other {
			lostN++
		}
	}
	if lostN == 0 {
		t.Fatalf("no worker on node %d: %+v", other, cs)
	}
	e.yarn.LoseNode(other)
	// The surviving node has room for three 256 MB containers only next to
	// the AM; the AM gets what fits.
	e.wait(ctx, "replacements", func(c *yarntest.Cluster) bool {
		return len(c.Containers(id.String())) == 4+lostN && c.RunningContainers(id.String()) == 4
	})
	m, err := e.client.ClusterMetrics(ctx)
	if err != nil || m.GetNumLostNms() != 1 {
		t.Fatalf("metrics after a lost node: %v %v", m, err)
	}
	r := e.finish(ctx, id)
	if !strings.Contains(r.GetDiagnostics(), "lost="+strconv.Itoa(lostN)) {
		t.Fatalf("diagnostics %q, want lost=%d", r.GetDiagnostics(), lostN)
	}
	for _, c := range e.yarn.Containers(id.String()) {
		if c.Node == other && c.ExitCode != -100 {
			t.Errorf("container %s on the lost node: exit %d, want -100", c.ID, c.ExitCode)
		}
	}
}

// TestPreemption: the AM gives back a container the RM preempts.
func TestPreemption(t *testing.T) {
	e := newEnv(t, yarntest.Options{})
	ctx := testContext(t)
	id, err := e.submit(ctx, submitOpts{workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "a worker", func(c *yarntest.Cluster) bool { return c.RunningContainers(id.String()) == 2 })
	w := e.yarn.Containers(id.String())[1]
	if err := e.yarn.Preempt(w.ID); err != nil {
		t.Fatal(err)
	}
	e.wait(ctx, "the preempted container stopped and replaced", func(c *yarntest.Cluster) bool {
		cs := c.Containers(id.String())
		return !cs[1].Running && len(cs) == 3 && cs[2].Running
	})
	if got := e.yarn.Containers(id.String())[1].ExitCode; got != -105 {
		t.Fatalf("preempted container exit %d, want -105 (stopped by the AM)", got)
	}
	r := e.finish(ctx, id)
	if !strings.Contains(r.GetDiagnostics(), "preempted=1") {
		t.Fatalf("diagnostics %q", r.GetDiagnostics())
	}
}

// TestChangedResourceFailsContainer: a LocalResource whose timestamp does
// not match fails the AM container with the NodeManager's message.
func TestChangedResourceFailsContainer(t *testing.T) {
	e := newEnv(t, yarntest.Options{MaxAttempts: 1})
	ctx := testContext(t)
	e.am.Timestamp = proto.Int64(e.am.GetTimestamp() - 1000)
	id, err := e.submit(ctx, submitOpts{})
	if err != nil {
		// The attempt may fail before the submitting client saw the
		// application accepted: then the submission reports it.
		if !strings.Contains(err.Error(), "changed on src filesystem") {
			t.Fatalf("submit: %v", err)
		}
		return
	}
	r, err := e.client.WaitApplication(ctx, id, func(*pb.ApplicationReportProto) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if r.GetYarnApplicationState() != pb.YarnApplicationStateProto_FAILED || !strings.Contains(r.GetDiagnostics(), "changed on src filesystem") {
		t.Fatalf("report: %s %q", r.GetYarnApplicationState(), r.GetDiagnostics())
	}
}
