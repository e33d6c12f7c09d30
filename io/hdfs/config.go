package hdfs

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
)

// Config configures a FileSystem. The zero value reads the Hadoop
// configuration of the environment (HADOOP_CONF_DIR) and acts as
// HADOOP_USER_NAME or the OS user.
type Config struct {
	// ConfDir is the Hadoop configuration directory whose core-site.xml
	// and hdfs-site.xml are read. Default: $HADOOP_CONF_DIR, else
	// $HADOOP_HOME/etc/hadoop; none if neither is set. A directory that
	// is set but missing is an error.
	ConfDir string
	// Properties set Hadoop properties on top of the files of ConfDir,
	// e.g. {"fs.defaultFS": "hdfs://nn:8020"} or an HA nameservice
	// (dfs.nameservices, dfs.ha.namenodes.NS,
	// dfs.namenode.rpc-address.NS.NN).
	Properties map[string]string
	// User is the HDFS user of simple authentication. Default:
	// $HADOOP_USER_NAME, else the OS user. Ignored with Kerberos (the
	// principal is the user).
	User string

	// BlockSize and Replication of created files; 0 takes the
	// NameNode's defaults (dfs.blocksize, dfs.replication).
	BlockSize   int64
	Replication int

	// DialTimeout bounds connecting to a NameNode or DataNode (default
	// 10s).
	DialTimeout time.Duration
	// IOTimeout bounds every read from and write to a NameNode or
	// DataNode connection, hence each NameNode call (default 60s).
	IOTimeout time.Duration
	// Retries is how many times a NameNode call that failed with a
	// transient error (connection refused or reset, all NameNodes in
	// standby, RetriableException) is retried; see the package
	// documentation for which calls are retried. Default 4; negative
	// disables retries.
	Retries int
	// RetryBackoff is the delay before the first retry, doubled for each
	// further one up to 5s, with jitter (default 100ms).
	RetryBackoff time.Duration
	// IdleTimeout closes the connection to a NameNode that no call and no
	// open file used for this long (default 1m); the next call reconnects.
	IdleTimeout time.Duration

	// Kerberos, used when hadoop.security.authentication is "kerberos".
	// With KerberosKeytab the client logs in as KerberosPrincipal
	// ("user@REALM" or "user" in krb5.conf's default realm); otherwise
	// it uses the credential cache KerberosCCache (default $KRB5CCNAME,
	// else /tmp/krb5cc_UID), as after kinit. Krb5Conf is the Kerberos
	// configuration (default $KRB5_CONFIG, else /etc/krb5.conf).
	KerberosKeytab    string
	KerberosPrincipal string
	KerberosCCache    string
	Krb5Conf          string

	// Getenv reads environment variables (default os.Getenv); tests set
	// it to avoid depending on the process environment.
	Getenv func(string) string
}

// Default tunables.
const (
	DefaultDialTimeout  = 10 * time.Second
	DefaultIOTimeout    = 60 * time.Second
	DefaultRetries      = 4
	DefaultRetryBackoff = 100 * time.Millisecond
	DefaultIdleTimeout  = time.Minute
	// DefaultPort is the NameNode RPC port used when a URI names a host
	// without a port that is not a configured nameservice.
	DefaultPort = "8020"
	maxBackoff  = 5 * time.Second
)

func (c *Config) setDefaults() error {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DialTimeout", &c.DialTimeout, DefaultDialTimeout},
		{"IOTimeout", &c.IOTimeout, DefaultIOTimeout},
		{"RetryBackoff", &c.RetryBackoff, DefaultRetryBackoff},
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v < 0 {
			return fmt.Errorf("hdfs: Config.%s must not be negative, got %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.BlockSize < 0 || c.Replication < 0 {
		return fmt.Errorf("hdfs: Config.BlockSize (%d) and Config.Replication (%d) must not be negative", c.BlockSize, c.Replication)
	}
	return nil
}

// hadoopConf is the merged Hadoop configuration: property name → value.
type hadoopConf map[string]string

// loadConf reads the Hadoop configuration selected by c.
func loadConf(c *Config) (hadoopConf, error) {
	conf := hadoopConf{}
	dir := c.ConfDir
	explicit := dir != ""
	if dir == "" {
		dir = c.Getenv("HADOOP_CONF_DIR")
		explicit = dir != ""
	}
	if dir == "" {
		if home := c.Getenv("HADOOP_HOME"); home != "" {
			dir = filepath.Join(home, "etc", "hadoop")
		}
	}
	if dir != "" {
		st, err := os.Stat(dir)
		switch {
		case err == nil && !st.IsDir():
			return nil, fmt.Errorf("hdfs: Hadoop configuration directory %s is not a directory", dir)
		case err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)):
			return nil, fmt.Errorf("hdfs: Hadoop configuration directory: %w", err)
		case err == nil:
			for _, name := range []string{"core-site.xml", "hdfs-site.xml"} {
				if err := conf.readFile(filepath.Join(dir, name)); err != nil {
					return nil, err
				}
			}
		}
	}
	for k, v := range c.Properties {
		conf[k] = v
	}
	return conf, nil
}

// readFile merges the properties of a Hadoop XML configuration file; a
// missing file is skipped.
func (h hadoopConf) readFile(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hdfs: reading Hadoop configuration: %w", err)
	}
	var doc struct {
		Properties []struct {
			Name  string `xml:"name"`
			Value string `xml:"value"`
		} `xml:"property"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("hdfs: parsing Hadoop configuration %s: %w", path, err)
	}
	for _, p := range doc.Properties {
		h[strings.TrimSpace(p.Name)] = strings.TrimSpace(p.Value)
	}
	return nil
}

// list returns the comma-separated values of key, trimmed, without empty
// ones.
func (h hadoopConf) list(key string) []string {
	var out []string
	for _, v := range strings.Split(h[key], ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// defaultAuthority returns the authority of fs.defaultFS (or the
// deprecated fs.default.name).
func (h hadoopConf) defaultAuthority() (string, error) {
	def := h["fs.defaultFS"]
	if def == "" {
		def = h["fs.default.name"]
	}
	if def == "" {
		return "", errors.New("the URI names no NameNode (hdfs:///path) and fs.defaultFS is not configured: set HADOOP_CONF_DIR or Config.Properties[\"fs.defaultFS\"], or name the NameNode (hdfs://host:port/path)")
	}
	u, err := url.Parse(def)
	if err != nil || !strings.EqualFold(u.Scheme, "hdfs") || u.Host == "" {
		return "", fmt.Errorf("fs.defaultFS %q is not an hdfs://authority URI", def)
	}
	return strings.ToLower(u.Host), nil
}

// namenodes returns the RPC addresses of the NameNodes serving authority
// ("" for fs.defaultFS), resolved as Hadoop does: an HA nameservice
// (dfs.ha.namenodes.NS and dfs.namenode.rpc-address.NS.NN), a federated
// nameservice (dfs.namenode.rpc-address.NS), or host[:port].
func (h hadoopConf) namenodes(authority string) (string, []string, error) {
	if authority == "" {
		a, err := h.defaultAuthority()
		if err != nil {
			return "", nil, err
		}
		authority = a
	}
	if ids := h.list("dfs.ha.namenodes." + authority); len(ids) > 0 {
		var addrs []string
		for _, id := range ids {
			key := "dfs.namenode.rpc-address." + authority + "." + id
			addr := h[key]
			if addr == "" {
				return "", nil, fmt.Errorf("HA nameservice %q lists NameNode %q but %s is not set", authority, id, key)
			}
			addrs = append(addrs, addr)
		}
		return authority, addrs, nil
	}
	if addr := h["dfs.namenode.rpc-address."+authority]; addr != "" {
		return authority, []string{addr}, nil
	}
	if _, _, err := net.SplitHostPort(authority); err == nil {
		return authority, []string{authority}, nil
	}
	if strings.ContainsAny(authority, "@[]") {
		return "", nil, fmt.Errorf("unsupported authority %q (want host, host:port or a nameservice)", authority)
	}
	for _, ns := range h.list("dfs.nameservices") {
		if ns == authority {
			return "", nil, fmt.Errorf("nameservice %q has neither dfs.ha.namenodes.%s nor dfs.namenode.rpc-address.%s", ns, ns, ns)
		}
	}
	return authority, []string{net.JoinHostPort(authority, DefaultPort)}, nil
}

// kerberos reports whether the configuration asks for Kerberos.
func (h hadoopConf) kerberos() bool {
	return strings.EqualFold(strings.TrimSpace(h["hadoop.security.authentication"]), "kerberos")
}

// userName returns the user of simple authentication.
func userName(c *Config) (string, error) {
	if c.User != "" {
		return c.User, nil
	}
	if u := c.Getenv("HADOOP_USER_NAME"); u != "" {
		return u, nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("hdfs: no user: set HADOOP_USER_NAME or Config.User (%w)", err)
	}
	return u.Username, nil
}
