package hive

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// KerberosConfig configures Kerberos (SASL GSSAPI) authentication to the
// metastore, used when Config.Auth is "KERBEROS".
type KerberosConfig struct {
	// ServicePrincipal is the metastore's principal, as Hive's
	// hive.metastore.kerberos.principal: "hive/_HOST@EXAMPLE.COM".
	// "_HOST" is replaced by the host name of the metastore URI being
	// connected to, in lower case (no DNS canonicalisation: use the name
	// the principal was created for). The realm of the service is taken
	// from krb5.conf ([domain_realm], else default_realm); the realm
	// part, when given, is only used in messages. Required.
	ServicePrincipal string
	// Keytab and Principal log in with a keytab; Principal is
	// "user@REALM" or "user" in krb5.conf's default realm. Without
	// Keytab the credential cache CCache is used (default $KRB5CCNAME,
	// else /tmp/krb5cc_UID), as after kinit; only FILE caches are read.
	Keytab, Principal string
	CCache            string
	// Krb5Conf is the Kerberos configuration file (default
	// $KRB5_CONFIG, else /etc/krb5.conf).
	Krb5Conf string
}

// servicePrincipal turns a hive.metastore.kerberos.principal pattern
// into the principal name without realm for host, and the realm given in
// the pattern ("" if none).
func servicePrincipal(pattern, host string) (spn, realm string, err error) {
	if strings.TrimSpace(pattern) == "" {
		return "", "", errors.New("hive: Kerberos needs the metastore's service principal (hive.metastore.kerberos.principal, e.g. hive/_HOST@EXAMPLE.COM)")
	}
	name, realm, _ := strings.Cut(strings.TrimSpace(pattern), "@")
	service, inst, ok := strings.Cut(name, "/")
	if service == "" || !ok || inst == "" || strings.Contains(inst, "/") || strings.Contains(realm, "@") {
		return "", "", fmt.Errorf("hive: service principal %q: want SERVICE/HOST[@REALM], e.g. hive/_HOST@EXAMPLE.COM", pattern)
	}
	if inst == "_HOST" {
		if host == "" {
			return "", "", fmt.Errorf("hive: service principal %q: no host name to replace _HOST with", pattern)
		}
		inst = strings.ToLower(host)
	}
	return service + "/" + inst, realm, nil
}

// kerberosLogin returns a Kerberos client holding a TGT (keytab login) or
// the credentials of a credential cache. getenv reads the environment.
func kerberosLogin(kc KerberosConfig, getenv func(string) string) (*krbclient.Client, error) {
	confPath := kc.Krb5Conf
	if confPath == "" {
		confPath = getenv("KRB5_CONFIG")
	}
	if confPath == "" {
		confPath = "/etc/krb5.conf"
	}
	cfg, err := krbconfig.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("hive: loading Kerberos configuration %s: %w", confPath, err)
	}
	if kc.Keytab != "" {
		if kc.Principal == "" {
			return nil, fmt.Errorf("hive: Kerberos keytab %s needs the principal to log in as (KerberosConfig.Principal)", kc.Keytab)
		}
		kt, err := keytab.Load(kc.Keytab)
		if err != nil {
			return nil, fmt.Errorf("hive: loading Kerberos keytab %s: %w", kc.Keytab, err)
		}
		user, realm, ok := strings.Cut(kc.Principal, "@")
		if !ok {
			realm = cfg.LibDefaults.DefaultRealm
		}
		cl := krbclient.NewWithKeytab(user, realm, kt, cfg, krbclient.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			return nil, fmt.Errorf("hive: Kerberos login of %s with keytab %s: %w", kc.Principal, kc.Keytab, err)
		}
		return cl, nil
	}
	path := kc.CCache
	if path == "" {
		path = getenv("KRB5CCNAME")
	}
	if rest, ok := strings.CutPrefix(path, "FILE:"); ok {
		path = rest
	} else if strings.Contains(path, ":") {
		return nil, fmt.Errorf("hive: Kerberos credential cache %q is not a file cache (only FILE: caches are read)", path)
	}
	if path == "" {
		path = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	cc, err := loadCCache(path)
	if err != nil {
		return nil, fmt.Errorf("hive: loading Kerberos credential cache %s (run kinit, or give a keytab): %w", path, err)
	}
	tgtName := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", cc.DefaultPrincipal.Realm}}
	if tgt, ok := cc.GetEntry(tgtName); ok && time.Now().After(tgt.EndTime) {
		return nil, fmt.Errorf("hive: the Kerberos credentials of %s in %s expired at %s (run kinit)",
			cc.DefaultPrincipal.PrincipalName.PrincipalNameString()+"@"+cc.DefaultPrincipal.Realm, path, tgt.EndTime.UTC().Format(time.RFC3339))
	}
	cl, err := krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true))
	if err != nil {
		return nil, fmt.Errorf("hive: Kerberos credential cache %s: %w (run kinit)", path, err)
	}
	return cl, nil
}

// loadCCache reads a credential cache; gokrb5's parser indexes without
// bounds checks, so a truncated file is reported instead of panicking.
func loadCCache(path string) (cc *credentials.CCache, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%d bytes: not a credential cache", len(b))
	}
	defer func() {
		if r := recover(); r != nil {
			cc, err = nil, errors.New("truncated or corrupt credential cache")
		}
	}()
	cc = new(credentials.CCache)
	if err := cc.Unmarshal(b); err != nil {
		return nil, err
	}
	return cc, nil
}
