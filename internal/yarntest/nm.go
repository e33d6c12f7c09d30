package yarntest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// nodeManager is one node: a ContainerManagementProtocol endpoint, an
// HTTP port (only reserved) and directories.
type nodeManager struct {
	idx  int
	host string
	dir  string
	srv  *server
	http *server
	lost bool // guarded by Cluster.mu
}

// containerTokens is the credentials file in a container's directory
// (HADOOP_TOKEN_FILE_LOCATION).
const containerTokens = "container_tokens"

func (n *nodeManager) port() int32 {
	_, p, _ := net.SplitHostPort(n.srv.Addr())
	v, _ := strconv.Atoi(p)
	return int32(v)
}

func (n *nodeManager) nodeIDProto() *pb.NodeIdProto {
	return &pb.NodeIdProto{Host: proto.String(n.host), Port: proto.Int32(n.port())}
}

func (n *nodeManager) nodeID() string { return n.srv.Addr() }

func (c *Cluster) startNode(i int) (*nodeManager, error) {
	n := &nodeManager{idx: i, host: "127.0.0.1", dir: filepath.Join(c.dir, "nm"+strconv.Itoa(i))}
	n.srv = newServer(func(conn net.Conn) {
		hadooprpc.ServeConnWith(context.Background(), conn, c.nmHandler(n), hadooprpc.ServeOptions{Tokens: c.nmTokens(n)})
	})
	n.http = newServer(func(conn net.Conn) { conn.Close() })
	if err := n.srv.Start(); err != nil {
		return nil, fmt.Errorf("yarntest: %w", err)
	}
	if err := n.http.Start(); err != nil {
		return nil, fmt.Errorf("yarntest: %w", err)
	}
	return n, nil
}

// container is an allocated container and, once started, its process.
type container struct {
	id   yarn.ContainerID
	app  *application
	node *nodeManager
	res  *pb.ResourceProto
	prio int32
	am   bool

	// guarded by Cluster.mu
	started bool
	done    bool
	lost    bool
	exit    int32
	diag    string
	workDir string
	logDir  string
	tokens  []byte // the credentials file's content

	pmu    sync.Mutex
	cmd    *exec.Cmd
	killed bool
	exited chan struct{} // closed when the process has been reaped
}

func (ct *container) status() *pb.ContainerStatusProto {
	st := pb.ContainerStateProto_C_NEW
	switch {
	case ct.done:
		st = pb.ContainerStateProto_C_COMPLETE
	case ct.started:
		st = pb.ContainerStateProto_C_RUNNING
	}
	return &pb.ContainerStatusProto{ContainerId: ct.id.Proto(), State: st.Enum(), ExitStatus: proto.Int32(ct.exit),
		Diagnostics: proto.String(ct.diag), Capability: ct.res}
}

// kill sends SIGKILL to the container's process group (or keeps it from
// starting).
func (ct *container) kill() {
	ct.pmu.Lock()
	defer ct.pmu.Unlock()
	ct.killed = true
	if ct.cmd != nil && ct.cmd.Process != nil {
		syscall.Kill(-ct.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// wait waits until the process, if one was started, has been reaped.
func (ct *container) wait() {
	ct.pmu.Lock()
	ch := ct.exited
	ct.pmu.Unlock()
	if ch != nil {
		<-ch
	}
}

// finishContainerLocked completes a container now (released, stopped,
// its application ended, its node lost before it started) and kills its
// process. report tells the ApplicationMaster.
func (c *Cluster) finishContainerLocked(ct *container, exit int32, diag string, report bool) {
	if ct.done {
		return
	}
	ct.done, ct.exit, ct.diag = true, exit, diag
	if report && !ct.am {
		if at := ct.app.current(); at != nil && !at.ended {
			at.completed = append(at.completed, ct.status())
		}
	}
	go ct.kill()
	c.notifyLocked()
}

// startContainerLocked localizes and launches ct's process; am is the
// attempt ct is the ApplicationMaster of (nil for other containers).
func (c *Cluster) startContainerLocked(ct *container, launch *pb.ContainerLaunchContextProto, am *attempt) {
	a := ct.app
	ct.started = true
	if c.closed {
		ct.done, ct.exit, ct.diag = true, -100, "the cluster is closing"
		return
	}
	appDir := filepath.Join(ct.node.dir, "usercache", a.user, "appcache", a.id.String())
	ct.workDir = filepath.Join(appDir, ct.id.String())
	ct.logDir = filepath.Join(ct.node.dir, "logs", a.id.String(), ct.id.String())
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range c.opts.Env {
		env = append(env, k+"="+v)
	}
	confDir := c.confDir
	for _, kv := range launch.GetEnvironment() {
		if kv.GetKey() == "HADOOP_CONF_DIR" {
			confDir = kv.GetValue()
			continue
		}
		env = append(env, kv.GetKey()+"="+expandVars(kv.GetValue()))
	}
	creds, err := parseLaunchTokens(launch.GetTokens())
	if err != nil { // checked before: at submission, in startContainers
		creds = &hadooprpc.Credentials{}
	}
	if am != nil {
		confDir = am.confDir
		creds.AddToken(yarn.KindAMRMToken, am.amrm)
	}
	ct.tokens = creds.Marshal()
	env = append(env,
		"CONTAINER_ID="+ct.id.String(),
		"NM_HOST="+ct.node.host,
		"NM_PORT="+strconv.Itoa(int(ct.node.port())),
		"NM_HTTP_PORT="+portOf(ct.node.http.Addr()),
		"LOCAL_DIRS="+appDir,
		"LOG_DIRS="+ct.logDir,
		"PWD="+ct.workDir,
		"USER="+a.user,
		"LOGNAME="+a.user,
		"HADOOP_CONF_DIR="+confDir,
		yarn.TokenFileEnv+"="+filepath.Join(ct.workDir, containerTokens),
		"APP_SUBMIT_TIME_ENV="+strconv.FormatInt(a.start.UnixMilli(), 10),
		"MAX_APP_ATTEMPTS="+strconv.Itoa(int(a.maxAttempts)),
		"APPLICATION_WEB_PROXY_BASE=/proxy/"+a.id.String(),
	)
	cmdline := strings.Join(launch.GetCommand(), " ")
	cmdline = strings.ReplaceAll(cmdline, "<LOG_DIR>", ct.logDir)
	cmdline = strings.ReplaceAll(cmdline, "<CPS>", ":")
	cmdline = expandVars(cmdline)
	resources := launch.GetLocalResources()
	user := a.user
	c.counters["containersStarted"]++
	ct.pmu.Lock()
	ct.exited = make(chan struct{})
	ct.pmu.Unlock()
	go func() {
		code, diag := c.runContainer(ct, user, resources, env, cmdline)
		c.mu.Lock()
		if !ct.done {
			ct.done, ct.exit, ct.diag = true, code, diag
			if ct.lost {
				ct.exit, ct.diag = -100, lostDiag
			}
			c.containerExitedLocked(ct)
		}
		c.notifyLocked()
		c.mu.Unlock()
		ct.pmu.Lock()
		close(ct.exited)
		ct.pmu.Unlock()
	}()
}

var braceVar = regexp.MustCompile(`\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}`)

// expandVars turns YARN's cross-platform {{VAR}} into $VAR.
func expandVars(s string) string { return braceVar.ReplaceAllString(s, "$$$1") }

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// runContainer localizes the resources and runs the command; it returns
// the exit code and diagnostics.
func (c *Cluster) runContainer(ct *container, user string, resources []*pb.StringLocalResourceMapProto, env []string, cmdline string) (int32, string) {
	for _, d := range []string{ct.workDir, ct.logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return -1000, "yarntest: " + err.Error()
		}
	}
	if err := os.WriteFile(filepath.Join(ct.workDir, containerTokens), ct.tokens, 0o600); err != nil {
		return -1000, "yarntest: " + err.Error()
	}
	for _, r := range resources {
		if err := localize(user, r.GetKey(), r.GetValue(), ct.workDir); err != nil {
			return -1000, fmt.Sprintf("Resource localization failed for %s: %v", ct.id, err)
		}
	}
	if strings.TrimSpace(cmdline) == "" {
		return -1000, "yarntest: the launch context has no command"
	}
	outF, err1 := os.Create(filepath.Join(ct.logDir, "prelaunch.out"))
	errF, err2 := os.Create(filepath.Join(ct.logDir, "prelaunch.err"))
	if err := errors.Join(err1, err2); err != nil {
		return -1000, "yarntest: " + err.Error()
	}
	defer outF.Close()
	defer errF.Close()
	cmd := exec.Command("bash", "-c", cmdline)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = ct.workDir, env, outF, errF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ct.pmu.Lock()
	if ct.killed {
		ct.pmu.Unlock()
		return 137, "Container killed before it started"
	}
	err := cmd.Start()
	if err == nil {
		ct.cmd = cmd
	}
	ct.pmu.Unlock()
	if err != nil {
		return -1000, "Exception from container-launch: " + err.Error()
	}
	err = cmd.Wait()
	// The command's children may live on in the group; a container ends
	// with all of them.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err == nil {
		return 0, ""
	}
	code := int32(1)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		} else {
			code = int32(ee.ExitCode())
		}
	}
	return code, fmt.Sprintf("Container exited with a non-zero exit code %d. Error file: prelaunch.err.\nLast 4096 bytes of stderr :\n%s", code, tail(ct.logDir, 4096))
}

// tail returns the end of the container's stderr (or prelaunch.err).
func tail(logDir string, n int64) string {
	for _, name := range []string{"stderr", "prelaunch.err"} {
		f, err := os.Open(filepath.Join(logDir, name))
		if err != nil {
			continue
		}
		st, _ := f.Stat()
		if st.Size() > n {
			f.Seek(st.Size()-n, io.SeekStart)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if len(b) > 0 {
			return string(b)
		}
	}
	return ""
}

// localize copies one LocalResource (hdfs:// or file:// URL) into dir,
// checking its size and modification time as a NodeManager does.
func localize(user, name string, r *pb.LocalResourceProto, dir string) error {
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return fmt.Errorf("bad resource name %q", name)
	}
	if r.GetType() != pb.LocalResourceTypeProto_FILE {
		return fmt.Errorf("resource %s: type %s is not supported by the stand-in (FILE only)", name, r.GetType())
	}
	u := r.GetResource()
	src := fmt.Sprintf("%s://%s:%d%s", u.GetScheme(), u.GetHost(), u.GetPort(), u.GetFile())
	var (
		in    io.ReadCloser
		size  int64
		mtime time.Time
	)
	switch u.GetScheme() {
	case "hdfs":
		cl, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{net.JoinHostPort(u.GetHost(), strconv.Itoa(int(u.GetPort())))}, User: user})
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		defer cl.Close()
		st, err := cl.Stat(u.GetFile())
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		f, err := cl.Open(u.GetFile())
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		in, size, mtime = f, st.Size(), st.ModTime()
	case "file":
		src = "file://" + u.GetFile()
		st, err := os.Stat(u.GetFile())
		if err != nil {
			return err
		}
		f, err := os.Open(u.GetFile())
		if err != nil {
			return err
		}
		in, size, mtime = f, st.Size(), st.ModTime()
	default:
		return fmt.Errorf("resource %s: scheme %q is not supported by the stand-in (hdfs, file)", name, u.GetScheme())
	}
	defer in.Close()
	if size != r.GetSize() || mtime.UnixMilli() != r.GetTimestamp() {
		return fmt.Errorf("Resource %s changed on src filesystem (expected size %d and timestamp %d, was %d and %d)",
			src, r.GetSize(), r.GetTimestamp(), size, mtime.UnixMilli())
	}
	out, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(filepath.Join(dir, name), 0o500)
}

// nmHandler serves ContainerManagementProtocol on node n.
func (c *Cluster) nmHandler(n *nodeManager) hadooprpc.Handler {
	return func(_ context.Context, call *hadooprpc.ServerCall) (proto.Message, error) {
		if call.Protocol != yarn.ContainerManagementProtocol {
			return nil, c.remote(hadooprpc.ExNoSuchProtocol, "Unknown protocol: %s", call.Protocol)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.counters[call.Method]++
		fail := func(id *pb.ContainerIdProto, class, format string, args ...any) *pb.ContainerExceptionMapProto {
			return &pb.ContainerExceptionMapProto{ContainerId: id, Exception: &pb.SerializedExceptionProto{
				ClassName: proto.String(class), Message: proto.String(fmt.Sprintf(format, args...))}}
		}
		lookup := func(id *pb.ContainerIdProto) *container {
			a := c.apps[yarn.AppIDFromProto(id.GetAppAttemptId().GetApplicationId())]
			if a == nil {
				return nil
			}
			if ct := a.containers[id.GetId()]; ct != nil && ct.node == n {
				return ct
			}
			return nil
		}
		switch call.Method {
		case "startContainers":
			var req pb.StartContainersRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			resp := &pb.StartContainersResponseProto{}
			for _, r := range req.GetStartContainerRequest() {
				id, err := yarn.ParseContainerID(string(r.GetContainerToken().GetIdentifier()))
				if err != nil {
					resp.FailedRequests = append(resp.FailedRequests, fail(nil, "org.apache.hadoop.security.token.SecretManager$InvalidToken", "bad container token: %v", err))
					continue
				}
				ct := lookup(id.Proto())
				_, tokErr := parseLaunchTokens(r.GetContainerLaunchContext().GetTokens())
				switch {
				case tokErr != nil:
					resp.FailedRequests = append(resp.FailedRequests, fail(id.Proto(), hadooprpc.ExIO, "Unable to parse the container launch context's tokens: %v", tokErr))
				case tokenApp(call.TokenIdentifier) != id.Attempt.App:
					resp.FailedRequests = append(resp.FailedRequests, fail(id.Proto(), yarn.ExYarn, "Unauthorized request to start container. NMToken for application attempt : %s was used for starting container with container token issued for application : %s",
						tokenApp(call.TokenIdentifier), id.Attempt.App))
				case ct == nil:
					resp.FailedRequests = append(resp.FailedRequests, fail(id.Proto(), "org.apache.hadoop.security.token.SecretManager$InvalidToken", "container %s is not allocated on this node", id))
				case ct.started || ct.done:
					resp.FailedRequests = append(resp.FailedRequests, fail(id.Proto(), yarn.ExYarn, "Container %s already is running or completed on this node", id))
				default:
					c.startContainerLocked(ct, r.GetContainerLaunchContext(), nil)
					resp.SucceededRequests = append(resp.SucceededRequests, id.Proto())
				}
			}
			c.notifyLocked()
			return resp, nil
		case "stopContainers":
			var req pb.StopContainersRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			resp := &pb.StopContainersResponseProto{}
			for _, id := range req.GetContainerId() {
				ct := lookup(id)
				if ct == nil {
					resp.FailedRequests = append(resp.FailedRequests, fail(id, yarn.ExYarn, "Container %s is not handled by this NodeManager", yarn.ContainerIDFromProto(id)))
					continue
				}
				c.finishContainerLocked(ct, -105, "Container killed by the ApplicationMaster.", true)
				resp.SucceededRequests = append(resp.SucceededRequests, id)
			}
			return resp, nil
		case "getContainerStatuses":
			var req pb.GetContainerStatusesRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			resp := &pb.GetContainerStatusesResponseProto{}
			for _, id := range req.GetContainerId() {
				ct := lookup(id)
				if ct == nil {
					resp.FailedRequests = append(resp.FailedRequests, fail(id, yarn.ExYarn, "Container %s is not handled by this NodeManager", yarn.ContainerIDFromProto(id)))
					continue
				}
				resp.Status = append(resp.Status, ct.status())
			}
			return resp, nil
		}
		return nil, c.remote(hadooprpc.ExNoSuchMethod, "Unknown method %s called on %s protocol (the yarntest stand-in does not implement it).", call.Method, call.Protocol)
	}
}
