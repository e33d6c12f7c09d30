package hdfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// kerberosSettings is what a Kerberos login needs, resolved from Config,
// the Hadoop configuration and the environment.
type kerberosSettings struct {
	spn       string // NameNode service principal without realm, e.g. "nn/_HOST"
	krb5Conf  string
	keytab    string // login with a keytab, or
	principal string
	ccache    string // use a credential cache
}

func kerberosSettingsOf(c *Config, conf hadoopConf) (kerberosSettings, error) {
	var s kerberosSettings
	spn := conf["dfs.namenode.kerberos.principal"]
	if spn == "" {
		return s, errors.New("hdfs: hadoop.security.authentication is kerberos but dfs.namenode.kerberos.principal is not set")
	}
	s.spn, _, _ = strings.Cut(spn, "@")
	s.krb5Conf = c.Krb5Conf
	if s.krb5Conf == "" {
		s.krb5Conf = c.Getenv("KRB5_CONFIG")
	}
	if s.krb5Conf == "" {
		s.krb5Conf = "/etc/krb5.conf"
	}
	if c.KerberosKeytab != "" {
		if c.KerberosPrincipal == "" {
			return s, errors.New("hdfs: Config.KerberosKeytab needs Config.KerberosPrincipal")
		}
		s.keytab, s.principal = c.KerberosKeytab, c.KerberosPrincipal
		return s, nil
	}
	s.ccache = c.KerberosCCache
	if s.ccache == "" {
		s.ccache = c.Getenv("KRB5CCNAME")
	}
	if rest, ok := strings.CutPrefix(s.ccache, "FILE:"); ok {
		s.ccache = rest
	} else if strings.Contains(s.ccache, ":") {
		return s, fmt.Errorf("hdfs: credential cache %q is not a file cache (only FILE: caches are supported)", s.ccache)
	}
	if s.ccache == "" {
		s.ccache = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	return s, nil
}

// login returns a Kerberos client with credentials (a TGT).
func (s kerberosSettings) login() (*krbclient.Client, error) {
	cfg, err := krbconfig.Load(s.krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("hdfs: loading Kerberos configuration %s: %w", s.krb5Conf, err)
	}
	if s.keytab != "" {
		kt, err := keytab.Load(s.keytab)
		if err != nil {
			return nil, fmt.Errorf("hdfs: loading keytab %s: %w", s.keytab, err)
		}
		user, realm, ok := strings.Cut(s.principal, "@")
		if !ok {
			realm = cfg.LibDefaults.DefaultRealm
		}
		cl := krbclient.NewWithKeytab(user, realm, kt, cfg, krbclient.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			return nil, fmt.Errorf("hdfs: Kerberos login of %s with keytab %s: %w", s.principal, s.keytab, err)
		}
		return cl, nil
	}
	cc, err := credentials.LoadCCache(s.ccache)
	if err != nil {
		return nil, fmt.Errorf("hdfs: loading Kerberos credential cache %s (run kinit, or set Config.KerberosKeytab): %w", s.ccache, err)
	}
	cl, err := krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true))
	if err != nil {
		return nil, fmt.Errorf("hdfs: Kerberos credentials from %s: %w", s.ccache, err)
	}
	return cl, nil
}
