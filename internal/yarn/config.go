package yarn

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dagflow/dagflow/internal/hadooprpc"
)

// ResourceManager is one ResourceManager of the cluster (two or more with
// HA).
type ResourceManager struct {
	// ID is the HA id (yarn.resourcemanager.ha.rm-ids), "" without HA.
	ID string
	// Address is the ApplicationClientProtocol address HOST:PORT
	// (yarn.resourcemanager.address).
	Address string
	// SchedulerAddress is the ApplicationMasterProtocol address
	// (yarn.resourcemanager.scheduler.address).
	SchedulerAddress string
}

// Config is what the client needs to reach YARN.
type Config struct {
	// ResourceManagers, in failover order.
	ResourceManagers []ResourceManager
	// User is the Hadoop user name (simple authentication).
	User string
	// DialTimeout bounds each connection attempt (default 10s).
	DialTimeout time.Duration
	// Kerberos is true when hadoop.security.authentication is kerberos;
	// the client refuses such a cluster (not implemented).
	Kerberos bool
	// Credentials are the tokens of the process (in a YARN container, the
	// file HADOOP_TOKEN_FILE_LOCATION names): an ApplicationMaster's
	// AMRMToken among them. Nil outside containers.
	Credentials *hadooprpc.Credentials
}

// Default ports of a ResourceManager.
const (
	defaultRMPort        = "8032"
	defaultSchedulerPort = "8030"
)

// ConfigFromEnv loads the configuration of HADOOP_CONF_DIR (or
// YARN_CONF_DIR) with the user of HADOOP_USER_NAME (or the OS user).
func ConfigFromEnv() (*Config, error) {
	dir := os.Getenv("YARN_CONF_DIR")
	if dir == "" {
		dir = os.Getenv("HADOOP_CONF_DIR")
	}
	if dir == "" {
		return nil, errors.New("yarn: neither HADOOP_CONF_DIR nor YARN_CONF_DIR is set: point one at the directory holding yarn-site.xml")
	}
	u := os.Getenv("HADOOP_USER_NAME")
	if u == "" {
		cur, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("yarn: no HADOOP_USER_NAME and no OS user: %w", err)
		}
		u = cur.Username
	}
	cfg, err := LoadConfig(dir, u)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials, err = credentialsFromEnv(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadConfig reads core-site.xml (optional) and yarn-site.xml in dir.
// Keys read: yarn.resourcemanager.ha.enabled, yarn.resourcemanager.ha.rm-ids,
// yarn.resourcemanager.address[.ID], yarn.resourcemanager.scheduler.address[.ID],
// yarn.resourcemanager.hostname[.ID] (the default host of both addresses,
// ports 8032 and 8030) and hadoop.security.authentication.
func LoadConfig(dir, userName string) (*Config, error) {
	conf := map[string]string{}
	for _, name := range []string{"core-site.xml", "yarn-site.xml"} {
		path := filepath.Join(dir, name)
		err := readSite(path, conf)
		if errors.Is(err, fs.ErrNotExist) && name == "core-site.xml" {
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	cfg, err := configFrom(conf, filepath.Join(dir, "yarn-site.xml"))
	if err != nil {
		return nil, err
	}
	cfg.User = userName
	return cfg, nil
}

// configFrom derives a Config from Hadoop configuration keys; where names
// the file in errors.
func configFrom(conf map[string]string, where string) (*Config, error) {
	cfg := &Config{Kerberos: strings.EqualFold(conf["hadoop.security.authentication"], "kerberos")}
	addrOf := func(key, suffix, port string) (string, error) {
		if v := conf[key+suffix]; v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return "", fmt.Errorf("yarn: %s: %s%s = %q: want HOST:PORT", where, key, suffix, v)
			}
			return v, nil
		}
		host := conf["yarn.resourcemanager.hostname"+suffix]
		if host == "" {
			return "", fmt.Errorf("yarn: %s sets neither %s%s nor yarn.resourcemanager.hostname%s", where, key, suffix, suffix)
		}
		return net.JoinHostPort(host, port), nil
	}
	rm := func(id, suffix string) error {
		a, err := addrOf("yarn.resourcemanager.address", suffix, defaultRMPort)
		if err != nil {
			return err
		}
		s, err := addrOf("yarn.resourcemanager.scheduler.address", suffix, defaultSchedulerPort)
		if err != nil {
			return err
		}
		cfg.ResourceManagers = append(cfg.ResourceManagers, ResourceManager{ID: id, Address: a, SchedulerAddress: s})
		return nil
	}
	if strings.EqualFold(conf["yarn.resourcemanager.ha.enabled"], "true") {
		var ids []string
		for _, id := range strings.Split(conf["yarn.resourcemanager.ha.rm-ids"], ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("yarn: %s: yarn.resourcemanager.ha.enabled is true but yarn.resourcemanager.ha.rm-ids is empty", where)
		}
		for _, id := range ids {
			if err := rm(id, "."+id); err != nil {
				return nil, err
			}
		}
		return cfg, nil
	}
	if err := rm("", ""); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readSite adds the properties of a Hadoop *-site.xml file to conf.
// ${var} references are expanded once, against conf.
func readSite(path string, conf map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("yarn: %w", err)
	}
	var doc struct {
		Properties []struct {
			Name  string `xml:"name"`
			Value string `xml:"value"`
		} `xml:"property"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("yarn: %s: %w", path, err)
	}
	for _, p := range doc.Properties {
		conf[strings.TrimSpace(p.Name)] = strings.TrimSpace(p.Value)
	}
	for k, v := range conf {
		conf[k] = os.Expand(v, func(name string) string {
			if r, ok := conf[name]; ok && !strings.Contains(r, "${") {
				return r
			}
			return "${" + name + "}"
		})
	}
	return nil
}

// WriteSite writes properties as a Hadoop *-site.xml file (used to hand
// containers and tests a configuration).
func WriteSite(path string, props map[string]string) error {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("  <property><name>")
		xml.EscapeText(&b, []byte(k))
		b.WriteString("</name><value>")
		xml.EscapeText(&b, []byte(props[k]))
		b.WriteString("</value></property>\n")
	}
	b.WriteString("</configuration>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("yarn: %w", err)
	}
	return nil
}
