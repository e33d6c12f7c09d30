package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/devca"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/internal/tlsconfig"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// runTLS writes the partitions once (uncompressed, to a Local whose files
// stay in the page cache), then serves them with shuffle/remote twice,
// plaintext and with mutual TLS 1.3 plus node-only authorization (as
// executors do), and reads everything warm through each, twice, keeping
// the better run.
func runTLS(out io.Writer, root string, cfg config, data [][]byte) error {
	ctx := context.Background()
	local, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: filepath.Join(root, "tls"), Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer local.Close()
	const job = "bench"
	raw, err := produce(ctx, cfg, local, job, data, nil)
	if err != nil {
		return err
	}
	pki := filepath.Join(root, "pki")
	ca, err := devca.InitDir(pki, "shufflebench CA", devca.Options{})
	if err != nil {
		return err
	}
	pair, err := ca.IssueNode("bench", []string{"127.0.0.1"}, devca.Options{})
	if err != nil {
		return err
	}
	if err := devca.WritePair(pki, "bench", pair, false); err != nil {
		return err
	}
	node, err := secure.Start(tlsconfig.Files{Cert: filepath.Join(pki, "bench.crt"), Key: filepath.Join(pki, "bench.key"),
		CA: filepath.Join(pki, "ca.crt")}, 0, quietLogger())
	if err != nil {
		return err
	}
	defer node.Close()
	as, err := secure.NodeOnly(quietLogger())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "data plane: %.2f GB written once, read warm over loopback gRPC (shuffle/remote), uncompressed\n\n", float64(raw)/1e9)
	fmt.Fprintln(out, "| transport | read MB/s | CPU s per GB |")
	fmt.Fprintln(out, "| --- | --- | --- |")
	for _, v := range []struct {
		name string
		n    *secure.Node
		as   *auth.Server
	}{{"plaintext", nil, nil}, {"mutual TLS 1.3", node, as}} {
		best, err := readOver(ctx, cfg, local, job, raw, v.n, v.as)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		fmt.Fprintf(out, "| %s | %.0f | %.2f |\n", v.name, mbps(raw, best.wall), best.cpu.Seconds()/(float64(raw)/1e9))
	}
	return nil
}

// readOver serves svc on loopback with n's credentials (nil: plaintext)
// and reads everything twice, returning the faster pass.
func readOver(ctx context.Context, cfg config, svc shuffle.Service, job string, raw int64, n *secure.Node, as *auth.Server) (phase, error) {
	srv := remote.NewGRPCServer(n.ServerOptions(tls.RequireAndVerifyClientCert, as)...)
	rs := remote.NewServer(svc, remote.ServerOptions{Logger: quietLogger()})
	rs.Register(srv)
	lis, err := listenLoopback()
	if err != nil {
		return phase{}, err
	}
	go srv.Serve(lis)
	defer srv.Stop()
	defer rs.Close()
	res := remote.NewResolver(remote.ClientOptions{Logger: quietLogger(), Creds: n.TransportCredentials()})
	defer res.Close()
	client, err := res.Resolve(lis.Addr().String())
	if err != nil {
		return phase{}, err
	}
	var best phase
	for i := 0; i < 2; i++ {
		var got int64
		ph, err := measure(func() error {
			var err error
			got, err = consume(ctx, cfg, client, job)
			return err
		})
		if err != nil {
			return phase{}, err
		}
		if got != raw {
			return phase{}, fmt.Errorf("read %d bytes, wrote %d", got, raw)
		}
		if i == 0 || ph.wall < best.wall {
			best = ph
		}
	}
	return best, nil
}

// listenLoopback listens on a free loopback port.
func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
