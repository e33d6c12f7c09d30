package filesystem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ClientDirEnv names the environment variable holding the working
// directory of the process that submitted a job (the driver). `dagctl
// submit` sets it for every process of the job (plan mode, executors on
// the workers, commit mode on the master), so that a relative local path
// given to the job means the same file in each of them, whatever their own
// working directory is.
const ClientDirEnv = "DAGFLOW_CLIENT_DIR"

// BaseDir returns the directory that relative local paths of a job
// resolve against: $DAGFLOW_CLIENT_DIR when it is set (it must be an
// absolute path), else the process's working directory (the driver's, in
// an embedded run or in plan mode).
func BaseDir() (string, error) {
	if d := os.Getenv(ClientDirEnv); d != "" {
		if !filepath.IsAbs(d) {
			return "", fmt.Errorf("filesystem: %s=%q is not an absolute path", ClientDirEnv, d)
		}
		return filepath.Clean(d), nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("filesystem: working directory: %w", err)
	}
	return d, nil
}

// Absolute returns path as an absolute URI that means the same thing in
// every process:
//
//   - a local path (no "scheme://" prefix) becomes the file:// URI of the
//     absolute path, joined to base if relative (base must be absolute);
//   - a file:// URI is returned in the canonical form file:///abs/path
//     ("file://localhost/x" gives "file:///x");
//   - a URI of any other scheme (hdfs://, s3://, ...) is returned
//     unchanged.
//
// Local paths are cleaned (".." and "." elements removed); glob
// metacharacters ('*', '?', '[') are kept, so patterns stay patterns. A
// leading "~" is not expanded (that is the shell's job): "~/x" is the
// relative path of a directory named "~". The result resolves to the same
// file system and path through Registry.Resolve.
func Absolute(path, base string) (string, error) {
	if path == "" {
		return "", errors.New("filesystem: empty path")
	}
	if scheme, ok := SchemeOf(path); ok {
		if scheme != "file" {
			return path, nil
		}
		p, err := localPathOf(path)
		if err != nil {
			return "", err
		}
		return FileURI(filepath.Clean(filepath.FromSlash(p))), nil
	}
	if !filepath.IsAbs(path) {
		if !filepath.IsAbs(base) {
			return "", fmt.Errorf("filesystem: cannot resolve relative path %q against %q: not an absolute directory", path, base)
		}
		path = filepath.Join(base, path)
	}
	return FileURI(filepath.Clean(path)), nil
}

// FileURI returns the file:// URI of the absolute local path p. Only the
// characters a URI parser would misread are percent-encoded ('%', '?',
// '#' and control characters); Registry.Resolve decodes them again.
func FileURI(p string) string {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") { // a Windows drive path, C:/x
		p = "/" + p
	}
	var b strings.Builder
	b.WriteString("file://")
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' || c == '?' || c == '#' || c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// LocalPath returns the local path a plain path or file:// URI names, and
// false for URIs of other schemes (or malformed file URIs).
func LocalPath(uri string) (string, bool) {
	scheme, ok := SchemeOf(uri)
	if !ok {
		return uri, true
	}
	if scheme != "file" {
		return "", false
	}
	p, err := localPathOf(uri)
	if err != nil {
		return "", false
	}
	return filepath.FromSlash(p), true
}
