package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/devca"
	"github.com/dagflow/dagflow/internal/gossipkey"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/internal/tlsconfig"
)

// envToken holds a client's bearer token when --token-file is not given.
const envToken = "DAGFLOW_TOKEN"

// clientSecurity are the TLS and token flags of client verbs.
type clientSecurity struct {
	cert, key, ca, tokenFile string
}

// addClientSecurityFlags adds --tls-cert, --tls-key, --tls-ca and
// --token-file to a client verb.
func (a *app) addClientSecurityFlags(cmd *cobra.Command) *cobra.Command {
	f := cmd.Flags()
	f.StringVar(&a.sec.cert, "tls-cert", "", "client certificate (PEM) for mutual TLS, e.g. from dagctl certs issue user")
	f.StringVar(&a.sec.key, "tls-key", "", "private key (PEM) of --tls-cert")
	f.StringVar(&a.sec.ca, "tls-ca", "", "CA bundle (PEM) the server is verified against; turns TLS on")
	f.StringVar(&a.sec.tokenFile, "token-file", "", "file holding the bearer token (default $"+envToken+")")
	return cmd
}

// clientDialOptions are the transport and per-call credentials of a
// client verb: plaintext without TLS flags, TLS with --tls-ca, mutual TLS
// with --tls-cert; a token from --token-file or $DAGFLOW_TOKEN.
func (a *app) clientDialOptions() ([]grpc.DialOption, error) {
	s := a.sec
	token := ""
	switch {
	case s.tokenFile != "":
		t, err := auth.ReadToken(s.tokenFile)
		if err != nil {
			return nil, usageErrorf("--token-file: %v", err)
		}
		token = t
	case os.Getenv(envToken) != "":
		token = strings.TrimSpace(os.Getenv(envToken))
	}
	var creds credentials.TransportCredentials
	switch {
	case s.cert != "" || s.key != "":
		if s.cert == "" || s.key == "" || s.ca == "" {
			return nil, usageErrorf("--tls-cert and --tls-key go together, with --tls-ca")
		}
		rl, err := tlsconfig.New(tlsconfig.Files{Cert: s.cert, Key: s.key, CA: s.ca}, a.log)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		creds = rl.ClientCredentials("")
	case s.ca != "":
		pem, err := os.ReadFile(s.ca)
		if err != nil {
			return nil, usageErrorf("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--tls-ca %s: no PEM certificate in it", s.ca)
		}
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool})
	default:
		if token != "" {
			return nil, usageErrorf("a token (--token-file or $%s) is only sent over TLS: pass --tls-ca", envToken)
		}
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.NewTokenCredentials(token)))
	}
	return opts, nil
}

// daemonSecurity are the security flags of the daemons.
type daemonSecurity struct {
	cert, key, ca, tokenFile, authUsers, gossipKey, gossipKeyFile string
	insecure                                                      bool
}

// addDaemonSecurityFlags adds the TLS, gossip key and --insecure flags;
// users adds --token-file and --auth-users (daemons that users call).
func addDaemonSecurityFlags(f *pflag.FlagSet, o *daemonSecurity, users bool) {
	f.StringVar(&o.cert, "tls-cert", "", "node certificate (PEM) for mutual TLS, e.g. from dagctl certs issue node")
	f.StringVar(&o.key, "tls-key", "", "private key (PEM) of --tls-cert")
	f.StringVar(&o.ca, "tls-ca", "", "CA bundle (PEM) peers are verified against")
	f.StringVar(&o.gossipKey, "gossip-key", "", "base64 AES key(s) encrypting gossip, comma-separated, the first used to send (every member needs it)")
	f.StringVar(&o.gossipKeyFile, "gossip-key-file", "", "file of base64 gossip keys, one per line, the first used to send; re-read when it changes (live rotation)")
	f.BoolVar(&o.insecure, "insecure", false, "allow serving plaintext on a non-loopback address")
	if users {
		f.StringVar(&o.tokenFile, "token-file", "", `file of bearer tokens: lines "TOKEN USER ROLE" (roles view, submit, admin); re-read when it changes`)
		f.StringVar(&o.authUsers, "auth-users", "", `file mapping client certificate CNs to users: lines "CN USER ROLE"; re-read when it changes`)
	}
}

// start checks the listen addresses against the TLS rule and loads the
// TLS files, the user files and the gossip key. listens maps flag names
// to addresses. The user files and the gossip key file are re-read when
// they change until ctx ends.
func (o daemonSecurity) start(ctx context.Context, log *slog.Logger, listens map[string]string) (*secure.Node, *auth.Authenticator, *memberlist.Keyring, error) {
	tlsOn := o.cert != "" || o.key != "" || o.ca != ""
	for flag, addr := range listens {
		if err := secure.CheckListen(flag, addr, tlsOn, o.insecure); err != nil {
			return nil, nil, nil, usageErrorf("%v", err)
		}
	}
	if !tlsOn && (o.tokenFile != "" || o.authUsers != "") {
		return nil, nil, nil, usageErrorf("--token-file and --auth-users need TLS (--tls-cert, --tls-key, --tls-ca)")
	}
	node, err := secure.Start(tlsconfig.Files{Cert: o.cert, Key: o.key, CA: o.ca}, reloadInterval(), log)
	if err != nil {
		return nil, nil, nil, usageErrorf("%v", err)
	}
	var kr *memberlist.Keyring
	var keyFile *gossipkey.File
	switch {
	case o.gossipKey != "" && o.gossipKeyFile != "":
		node.Close()
		return nil, nil, nil, usageErrorf("give --gossip-key or --gossip-key-file, not both")
	case o.gossipKey != "":
		if kr, err = gossipkey.Keyring(o.gossipKey); err != nil {
			node.Close()
			return nil, nil, nil, usageErrorf("--gossip-key: %v", err)
		}
	case o.gossipKeyFile != "":
		if keyFile, err = gossipkey.LoadFile(o.gossipKeyFile); err != nil {
			node.Close()
			return nil, nil, nil, usageErrorf("--gossip-key-file: %v", err)
		}
		kr = keyFile.Keyring()
	}
	var authn *auth.Authenticator
	if tlsOn {
		if authn, err = auth.LoadAuthenticator(o.tokenFile, o.authUsers); err != nil {
			node.Close()
			return nil, nil, nil, usageErrorf("%v", err)
		}
		if o.tokenFile != "" || o.authUsers != "" {
			go authn.Run(ctx, reloadInterval(), log, nil)
		}
	}
	if keyFile != nil {
		go keyFile.Run(ctx, reloadInterval(), log, nil)
	}
	return node, authn, kr, nil
}

// reloadInterval is how often TLS files, the user files and the gossip
// key file are polled ($DAGFLOW_TLS_RELOAD_INTERVAL).
func reloadInterval() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(secure.EnvReloadInterval))
	return d
}

// certsCommand manages a development certificate authority.
func certsCommand(a *app) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "create a development CA and issue node and user certificates",
		Long: `certs creates a development-grade certificate authority in --dir and issues
node certificates (for daemons: --tls-cert, --tls-key, with --tls-ca DIR/ca.crt)
and user certificates (for clients). The CA key stays in DIR/ca.key: fine for
development and tests; production clusters should use their own PKI.`,
		Example: `  dagctl certs init --dir ./pki
  dagctl certs issue node master --hosts 127.0.0.1,master.example.com --dir ./pki
  dagctl certs issue user alice --dir ./pki`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(a.stderr)
			cmd.Usage()
			return &exitError{code: exitUsage, silent: true}
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "directory of the CA and the issued certificates (required)")
	need := func() error {
		if dir == "" {
			return usageErrorf("--dir is required")
		}
		return nil
	}
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "create the CA (DIR/ca.crt, DIR/ca.key)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := need(); err != nil {
				return err
			}
			if _, err := devca.InitDir(dir, "dagflow development CA", devca.Options{}); err != nil {
				return failed(err)
			}
			fmt.Fprintf(a.stdout, "CA written to %s\n", filepath.Join(dir, "ca.crt"))
			return nil
		},
	}
	var hosts string
	issueCmd := &cobra.Command{
		Use:   "issue (node|user) NAME",
		Short: "issue a node certificate (--hosts) or a user certificate: DIR/NAME.crt, DIR/NAME.key",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := need(); err != nil {
				return err
			}
			ca, err := devca.LoadDir(dir)
			if err != nil {
				return failed(err)
			}
			kind, name := args[0], args[1]
			var p devca.PEMPair
			switch kind {
			case "node":
				var hs []string
				for _, h := range strings.Split(hosts, ",") {
					if h = strings.TrimSpace(h); h != "" {
						hs = append(hs, h)
					}
				}
				p, err = ca.IssueNode(name, hs, devca.Options{})
			case "user":
				p, err = ca.IssueClient(name, devca.Options{})
			default:
				return usageErrorf("issue %q: want node or user", kind)
			}
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := devca.WritePair(dir, name, p, false); err != nil {
				return failed(err)
			}
			fmt.Fprintf(a.stdout, "%s certificate %s written to %s and %s\n", kind, name,
				filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
			return nil
		},
	}
	issueCmd.Flags().StringVar(&hosts, "hosts", "127.0.0.1,localhost", "node certificates: comma-separated host names and IP addresses")
	cmd.AddCommand(initCmd, issueCmd)
	return cmd
}

// localSecurity is what local-cluster --secure generates in its directory.
type localSecurity struct {
	dir, ca, tokens, token, gossipKey string
}

// newLocalSecurity creates a development CA in dir, node certificates for
// the master, the shuffle daemon and workers worker-0..n-1 (loopback
// only), a token file with one admin token, and a gossip key.
func newLocalSecurity(dir string, workers int) (*localSecurity, error) {
	ca, err := devca.InitDir(dir, "dagflow local-cluster CA", devca.Options{})
	if err != nil {
		return nil, err
	}
	names := []string{"master", "shuffle"}
	for i := 0; i < workers; i++ {
		names = append(names, fmt.Sprintf("worker-%d", i))
	}
	for _, n := range names {
		p, err := ca.IssueNode(n, []string{"127.0.0.1", "localhost"}, devca.Options{})
		if err != nil {
			return nil, err
		}
		if err := devca.WritePair(dir, n, p, false); err != nil {
			return nil, err
		}
	}
	token, err := gossipkey.Generate(nil) // 32 random bytes, base64
	if err != nil {
		return nil, err
	}
	token = strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(token)
	key, err := gossipkey.Generate(nil)
	if err != nil {
		return nil, err
	}
	s := &localSecurity{dir: dir, ca: filepath.Join(dir, "ca.crt"), tokens: filepath.Join(dir, "tokens"), token: token, gossipKey: key}
	if err := os.WriteFile(s.tokens, []byte(token+" admin admin\n"), 0o600); err != nil {
		return nil, fmt.Errorf("local-cluster: %w", err)
	}
	return s, nil
}

// node returns the TLS flags of node name.
func (s *localSecurity) node(name string) []string {
	return []string{"--tls-cert", filepath.Join(s.dir, name+".crt"), "--tls-key", filepath.Join(s.dir, name+".key"), "--tls-ca", s.ca}
}
