package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/buildinfo"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

func versionCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print dagctl's version and, when a master is reachable, the master's",
		Long: `version prints the client's build (module version, or "devel", VCS revision
and Go version) and, when --master or $DAGFLOW_MASTER names a reachable master,
the master's; a mismatch is warned about on stderr. --output json prints
{"client": ..., "master": ...} (master null when not reachable).`,
		Example: "  dagctl version\n  dagctl version --master 10.0.0.5:7070 --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := buildinfo.Read()
			var srv *buildinfo.Info
			var srvErr error
			if a.master != "" {
				opts, err := a.clientDialOptions()
				if err != nil {
					return err
				}
				srv, srvErr = masterVersion(cmd.Context(), a.master, opts)
			}
			if srvErr != nil {
				fmt.Fprintf(a.stderr, "dagctl version: master: %v\n", srvErr)
			}
			if srv != nil && !client.Same(*srv) {
				fmt.Fprintf(a.stderr, "dagctl version: warning: client %s and master %s differ\n", client, *srv)
			}
			if a.json() {
				return a.printJSON(map[string]any{"client": client, "master": srv})
			}
			fmt.Fprintf(a.stdout, "client: %s\n", client)
			if srv != nil {
				fmt.Fprintf(a.stdout, "master: %s\n", *srv)
			}
			return nil
		},
	}
}

// masterVersion asks the master at addr for its build.
func masterVersion(ctx context.Context, addr string, opts []grpc.DialOption) (*buildinfo.Info, error) {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := rpcpb.NewMasterClient(conn).Version(ctx, &rpcpb.VersionRequest{})
	if err != nil {
		return nil, fmt.Errorf("unreachable at %s: %s", addr, status.Convert(err).Message())
	}
	return &buildinfo.Info{Version: v.Version, Revision: v.Revision, Modified: v.Modified, GoVersion: v.GoVersion}, nil
}
