package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dagflow/dagflow/hive"
)

type catalogOptions struct {
	metastore, warehouse, auth string
	krb                        hive.KerberosConfig
}

// open opens the catalog the flags name.
func (o *catalogOptions) open(ctx context.Context) (hive.Catalog, error) {
	cfg := hive.Config{Warehouse: o.warehouse, Auth: o.auth}
	switch strings.ToUpper(o.auth) {
	case "KERBEROS", "GSSAPI":
		if o.krb.ServicePrincipal == "" {
			return nil, usageErrorf("--auth KERBEROS needs --metastore-principal (hive.metastore.kerberos.principal, e.g. hive/_HOST@EXAMPLE.COM)")
		}
		if (o.krb.Keytab == "") != (o.krb.Principal == "") {
			return nil, usageErrorf("--kerberos-keytab and --kerberos-principal go together")
		}
		cfg.Kerberos = o.krb
	default:
		if o.krb != (hive.KerberosConfig{}) {
			return nil, usageErrorf("--metastore-principal, --kerberos-* and --krb5-conf need --auth KERBEROS")
		}
	}
	if o.metastore != "" {
		cfg.MetastoreURIs = []string{o.metastore}
	}
	if cfg.MetastoreURIs == nil && cfg.Warehouse == "" {
		return nil, usageErrorf("give --metastore thrift://HOST:PORT (or $HIVE_METASTORE_URIS) or --warehouse DIR")
	}
	cat, err := hive.Open(ctx, cfg)
	if err != nil {
		return nil, failed(err)
	}
	return cat, nil
}

// catalogCommand is "dagctl catalog": browse and edit a Hive catalog (a
// metastore or the embedded catalog of a warehouse directory).
func catalogCommand(a *app) *cobra.Command {
	var o catalogOptions
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "browse and edit a Hive catalog (metastore or embedded)",
		Long: `catalog lists databases and tables, describes tables, creates tables and lists
partitions of a Hive catalog: a metastore (--metastore thrift://HOST:9083 or
$HIVE_METASTORE_URIS) or the embedded catalog of a warehouse directory
(--warehouse DIR).`,
		Example: `  dagctl catalog ls --warehouse /data/wh
  dagctl catalog create-table default.t --columns "a int,b string" --warehouse /data/wh
  dagctl catalog describe default.t --metastore thrift://hms:9083
  dagctl catalog ls --metastore thrift://hms.example.com:9083 --auth KERBEROS --metastore-principal 'hive/_HOST@EXAMPLE.COM'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(a.stderr)
			cmd.Usage()
			return &exitError{code: exitUsage, silent: true}
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.metastore, "metastore", os.Getenv("HIVE_METASTORE_URIS"), "metastore Thrift URIs, comma-separated (default $HIVE_METASTORE_URIS)")
	pf.StringVar(&o.warehouse, "warehouse", "", "warehouse directory (embedded catalog, or overrides the metastore's)")
	pf.StringVar(&o.auth, "auth", "NOSASL", "metastore transport: NOSASL, PLAIN or KERBEROS (SASL GSSAPI)")
	pf.StringVar(&o.krb.ServicePrincipal, "metastore-principal", "", "with --auth KERBEROS: the metastore's principal (hive.metastore.kerberos.principal), e.g. hive/_HOST@EXAMPLE.COM; _HOST becomes the metastore's host name")
	pf.StringVar(&o.krb.Principal, "kerberos-principal", "", "with --kerberos-keytab: the principal to log in as (user@REALM)")
	pf.StringVar(&o.krb.Keytab, "kerberos-keytab", "", "keytab to log in with (default: the credential cache)")
	pf.StringVar(&o.krb.CCache, "kerberos-ccache", "", "credential cache, as after kinit (default $KRB5CCNAME, else /tmp/krb5cc_UID)")
	pf.StringVar(&o.krb.Krb5Conf, "krb5-conf", "", "Kerberos configuration (default $KRB5_CONFIG, else /etc/krb5.conf)")
	// with runs f on the opened catalog under a timeout.
	with := func(cmd *cobra.Command, f func(context.Context, hive.Catalog) error) error {
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cat, err := o.open(ctx)
		if err != nil {
			return err
		}
		defer cat.Close()
		return f(ctx, cat)
	}
	lines := func(names []string) error {
		if a.json() {
			if names == nil {
				names = []string{}
			}
			return a.printJSON(names)
		}
		for _, n := range names {
			fmt.Fprintln(a.stdout, n)
		}
		return nil
	}
	ls := &cobra.Command{
		Use:     "ls [DB]",
		Short:   "list the databases, or the tables of DB",
		Long:    "ls lists the catalog's databases, or with DB the tables of that database.",
		Example: "  dagctl catalog ls --warehouse /data/wh\n  dagctl catalog ls default --warehouse /data/wh",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(ctx context.Context, cat hive.Catalog) error {
				var names []string
				var err error
				if len(args) == 0 {
					names, err = cat.Databases(ctx)
				} else {
					names, err = cat.Tables(ctx, args[0])
				}
				if err != nil {
					return failed(err)
				}
				return lines(names)
			})
		},
	}
	describe := &cobra.Command{
		Use:     "describe DB.TABLE",
		Short:   "show a table's columns, partition columns, location and format",
		Long:    "describe prints a table's columns and partition columns, its type, location, format and SerDe.",
		Example: "  dagctl catalog describe default.t --warehouse /data/wh",
		Args:    oneTable,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, tbl, err := hive.ParseTableName(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			return with(cmd, func(ctx context.Context, cat hive.Catalog) error {
				t, err := cat.Table(ctx, db, tbl)
				if err != nil {
					return failed(err)
				}
				if a.json() {
					return a.printJSON(t)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				for _, c := range t.Columns {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Type, c.Comment)
				}
				if len(t.PartitionKeys) > 0 {
					fmt.Fprintln(tw, "# partition columns\t\t")
					for _, c := range t.PartitionKeys {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Type, c.Comment)
					}
				}
				tw.Flush()
				f, ferr := t.Storage.Format()
				if ferr != nil {
					f = hive.Format("unsupported: " + ferr.Error())
				}
				fmt.Fprintf(a.stdout, "table:     %s (%s)\nlocation:  %s\nformat:    %s\nserde:     %s %v\n",
					t.FullName(), t.Type, t.Storage.Location, f, t.Storage.SerDe, t.Storage.SerDeParams)
				return nil
			})
		},
	}
	var columns, partBy, format, location string
	create := &cobra.Command{
		Use:   "create-table DB.TABLE --columns COLS",
		Short: "create a table",
		Long: `create-table creates a table with --columns ("name type" separated by commas;
commas inside <> and () belong to the type), optional partition columns and a
storage format.`,
		Example: `  dagctl catalog create-table default.t --columns "a int,b string" --warehouse /data/wh
  dagctl catalog create-table default.events --columns "id bigint, m map<string,int>" --partitioned-by "dt string" --format text --warehouse /data/wh`,
		Args: oneTable,
		RunE: func(cmd *cobra.Command, args []string) error {
			if columns == "" {
				return usageErrorf("--columns is required, e.g. --columns \"a int,b string\"")
			}
			t, err := hive.NewTable(args[0], hive.Format(format), splitCols(columns), splitCols(partBy))
			if err != nil {
				return usageErrorf("%v", err)
			}
			t.Storage.Location = location
			return with(cmd, func(ctx context.Context, cat hive.Catalog) error {
				if err := cat.CreateTable(ctx, t); err != nil {
					return failed(err)
				}
				if a.json() {
					return a.printJSON(map[string]string{"created": t.FullName()})
				}
				fmt.Fprintf(a.stdout, "created %s\n", t.FullName())
				return nil
			})
		},
	}
	cf := create.Flags()
	cf.StringVar(&columns, "columns", "", `columns, "name type" separated by commas`)
	cf.StringVar(&partBy, "partitioned-by", "", "partition columns, like --columns")
	cf.StringVar(&format, "format", "parquet", "storage format: parquet or text")
	cf.StringVar(&location, "location", "", "table location (default: under the database)")
	partitions := &cobra.Command{
		Use:     "partitions DB.TABLE",
		Short:   "list a table's partitions",
		Long:    "partitions lists the partition names of a table (dt=2026-01-01/...).",
		Example: "  dagctl catalog partitions default.events --warehouse /data/wh",
		Args:    oneTable,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, tbl, err := hive.ParseTableName(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			return with(cmd, func(ctx context.Context, cat hive.Catalog) error {
				names, err := cat.PartitionNames(ctx, db, tbl)
				if err != nil {
					return failed(err)
				}
				return lines(names)
			})
		},
	}
	cmd.AddCommand(ls, describe, create, partitions)
	return cmd
}

// oneTable checks a catalog verb got one DB.TABLE argument.
func oneTable(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf("want one DB.TABLE argument, got %d", len(args))
	}
	return nil
}

// splitCols splits "a int, m map<string,int>" at the commas outside <>
// and ().
func splitCols(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '<', '(':
			depth++
		case '>', ')':
			depth--
		case ',':
			if depth == 0 {
				if p := strings.TrimSpace(s[start:i]); p != "" {
					out = append(out, p)
				}
				start = i + 1
			}
		}
	}
	if p := strings.TrimSpace(s[start:]); p != "" {
		out = append(out, p)
	}
	return out
}
