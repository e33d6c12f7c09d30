package main

import (
	"bufio"
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
	"testing"
	"time"
)

// readmeSection is the heading of the README section whose first sh block
// TestReadmeClusterCommands runs as written.
const readmeSection = "## Run a cluster"

// readmeCommands returns the command lines of the first ```sh block under
// heading in the markdown text (comments and blank lines dropped).
func readmeCommands(markdown, heading string) ([]string, error) {
	_, rest, ok := strings.Cut(markdown, "\n"+heading+"\n")
	if !ok {
		return nil, fmt.Errorf("no section %q", heading)
	}
	if next := strings.Index(rest, "\n## "); next >= 0 {
		rest = rest[:next]
	}
	_, block, ok := strings.Cut(rest, "```sh\n")
	if !ok {
		return nil, fmt.Errorf("section %q has no sh block", heading)
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		return nil, fmt.Errorf("section %q: unterminated sh block", heading)
	}
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmds = append(cmds, line)
	}
	return cmds, nil
}

func TestReadmeCommandsParse(t *testing.T) {
	md := "# x\n\n## Run a cluster\n\ntext\n\n```sh\n# comment\ncmd one &   # bg\n\nexport A=B\n```\n\n## Next\n```sh\nnot this\n```\n"
	got, err := readmeCommands(md, "## Run a cluster")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cmd one &   # bg", "export A=B"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := readmeCommands(md, "## Missing"); err == nil {
		t.Fatal("missing section: no error")
	}
}

// shell is one bash process fed command lines on stdin, as a user types
// them into a terminal: exports and background jobs carry over.
type shell struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *syncBuffer
	seq    int
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startShell(t *testing.T, dir string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-s")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DAGFLOW_") {
			continue // the README sets what it needs
		}
		env = append(env, kv)
	}
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sh := &shell{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: &syncBuffer{}}
	cmd.Stderr = sh.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sh.kill)
	return sh
}

// kill ends the shell and everything it started (they share its process
// group: go run, the daemons and their executors).
func (sh *shell) kill() {
	pgid := sh.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { sh.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-done
}

// run types one line and returns what it printed on stdout and its exit
// status. A line ending in & returns at once with status 0.
func (sh *shell) run(line string) (string, int) {
	sh.seq++
	marker := fmt.Sprintf("__readme_done_%d__", sh.seq)
	if _, err := fmt.Fprintf(sh.stdin, "%s\necho; echo %s $?\n", line, marker); err != nil {
		sh.t.Fatalf("shell: %v (stderr:\n%s)", err, sh.stderr.String())
	}
	var out strings.Builder
	for {
		l, err := sh.out.ReadString('\n')
		if err != nil {
			sh.t.Fatalf("shell ended during %q: %v\nstdout:\n%s\nstderr:\n%s", line, err, out.String(), sh.stderr.String())
		}
		if rest, ok := strings.CutPrefix(l, marker+" "); ok {
			code, _ := strconv.Atoi(strings.TrimSpace(rest))
			return strings.TrimSuffix(out.String(), "\n"), code
		}
		out.WriteString(l)
	}
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t *testing.T, addr string, timeout time.Duration, sh *shell) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %v; stderr:\n%s", addr, timeout, sh.stderr.String())
}

// TestReadmeClusterCommands runs the shell commands of the README's
// cluster section exactly as written, one by one in one bash, from the
// repository root, against the real local cluster they start, and checks
// what they print and the job's output. The README cannot rot: a changed
// command, flag or output breaks this test.
func TestReadmeClusterCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes; skipped under -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := readmeCommands(string(readme), readmeSection)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	// The section's master address; it must be free.
	const masterAddr = "127.0.0.1:7070"
	if c, err := net.DialTimeout("tcp", masterAddr, time.Second); err == nil {
		c.Close()
		t.Skipf("%s is in use: the README's cluster cannot start here", masterAddr)
	}
	// The README's output directory: the job refuses a non-empty one.
	outDir := ""
	for _, c := range cmds {
		if m := regexp.MustCompile(`--output (\S+)`).FindStringSubmatch(c); m != nil {
			outDir = m[1]
		}
	}
	if outDir == "" {
		t.Fatal("README cluster section: no submit with --output")
	}
	os.RemoveAll(outDir)
	t.Cleanup(func() { os.RemoveAll(outDir) })

	sh := startShell(t, root)
	jobID := ""
	submitted := false
	for _, c := range cmds {
		line := c
		if strings.Contains(line, "JOB_ID") {
			if jobID == "" {
				t.Fatalf("README: %q uses JOB_ID before a submit printed one", c)
			}
			line = strings.ReplaceAll(line, "JOB_ID", jobID)
		}
		bg := strings.HasSuffix(strings.TrimSpace(stripComment(line)), "&")
		out, code := sh.run(line)
		t.Logf("$ %s\n%s", line, out)
		if code != 0 {
			t.Fatalf("README command %q exited %d\nstdout:\n%s\nstderr:\n%s", line, code, out, sh.stderr.String())
		}
		if bg && strings.Contains(line, "local-cluster") {
			// A user waits for the cluster to come up before typing on.
			waitListening(t, masterAddr, 3*time.Minute, sh)
		}
		if strings.Contains(line, " submit ") {
			m := regexp.MustCompile(`job (\S+) submitted`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("submit printed no job id:\n%s", out)
			}
			jobID = m[1]
			submitted = true
		}
		if strings.Contains(line, " list") && jobID != "" && !strings.Contains(out, jobID) {
			t.Fatalf("list does not show job %s:\n%s", jobID, out)
		}
		if strings.Contains(line, " status ") && !regexp.MustCompile(`(?i)finished`).MatchString(out) {
			t.Fatalf("status of the followed job is not finished:\n%s", out)
		}
	}
	if !submitted {
		t.Fatal("README cluster section submits no job")
	}
	// The job's output equals counts computed here from the same input.
	input := ""
	for _, c := range cmds {
		if m := regexp.MustCompile(`--input (\S+)`).FindStringSubmatch(c); m != nil {
			input = m[1]
		}
	}
	if !filepath.IsAbs(input) {
		input = filepath.Join(root, input)
	}
	want := wordCounts(t, input)
	got := readCounts(t, outDir)
	if len(got) != len(want) {
		t.Fatalf("%d distinct words in the output, want %d", len(got), len(want))
	}
	for w, c := range want {
		if got[w] != c {
			t.Fatalf("word %q: count %q, want %s", w, got[w], c)
		}
	}
}

// stripComment drops a trailing shell comment (" # ...") from a line.
func stripComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		return line[:i]
	}
	return line
}
