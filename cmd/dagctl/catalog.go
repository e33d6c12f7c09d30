package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dagflow/dagflow/hive"
)

// catalogCmd implements "dagctl catalog": browse and edit a Hive catalog
// (a metastore or the embedded catalog of a warehouse directory).
func catalogCmd(args []string, stdout, stderr io.Writer) int {
	const use = "usage: dagctl catalog ls [DB] | describe DB.TABLE | create-table DB.TABLE --columns COLS [--partitioned-by COLS] [--format parquet|text] | partitions DB.TABLE\n" +
		"  common flags: --metastore thrift://HOST:PORT[,...] | --warehouse DIR\n"
	if len(args) == 0 {
		fmt.Fprint(stderr, use)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("catalog "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	metastore := fs.String("metastore", os.Getenv("HIVE_METASTORE_URIS"), "metastore Thrift URIs, comma-separated (default $HIVE_METASTORE_URIS)")
	warehouse := fs.String("warehouse", "", "warehouse directory (embedded catalog, or overrides the metastore's)")
	auth := fs.String("auth", "NOSASL", "metastore transport: NOSASL or PLAIN")
	columns := fs.String("columns", "", `create-table: columns, "name type" separated by commas`)
	partBy := fs.String("partitioned-by", "", "create-table: partition columns")
	format := fs.String("format", "parquet", "create-table: parquet or text")
	location := fs.String("location", "", "create-table: table location (default: under the database)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cfg := hive.Config{Warehouse: *warehouse, Auth: *auth}
	if *metastore != "" {
		cfg.MetastoreURIs = []string{*metastore}
	}
	if cfg.MetastoreURIs == nil && cfg.Warehouse == "" {
		fmt.Fprint(stderr, "dagctl catalog: give --metastore or --warehouse\n"+use)
		return 2
	}
	cat, err := hive.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "dagctl catalog:", err)
		return 1
	}
	defer cat.Close()
	rest := fs.Args()
	needTable := func() (string, string, bool) {
		if len(rest) != 1 {
			fmt.Fprintf(stderr, "dagctl catalog %s: want one DB.TABLE argument\n", sub)
			return "", "", false
		}
		db, tbl, err := hive.ParseTableName(rest[0])
		if err != nil {
			fmt.Fprintln(stderr, "dagctl catalog:", err)
			return "", "", false
		}
		return db, tbl, true
	}
	switch sub {
	case "ls":
		var names []string
		if len(rest) == 0 {
			names, err = cat.Databases(ctx)
		} else {
			names, err = cat.Tables(ctx, rest[0])
		}
		if err != nil {
			fmt.Fprintln(stderr, "dagctl catalog:", err)
			return 1
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
	case "describe":
		db, tbl, ok := needTable()
		if !ok {
			return 2
		}
		t, err := cat.Table(ctx, db, tbl)
		if err != nil {
			fmt.Fprintln(stderr, "dagctl catalog:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
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
		fmt.Fprintf(stdout, "table:     %s (%s)\nlocation:  %s\nformat:    %s\nserde:     %s %v\n",
			t.FullName(), t.Type, t.Storage.Location, f, t.Storage.SerDe, t.Storage.SerDeParams)
	case "create-table":
		if len(rest) != 1 || *columns == "" {
			fmt.Fprint(stderr, "dagctl catalog create-table: want DB.TABLE and --columns\n")
			return 2
		}
		t, err := hive.NewTable(rest[0], hive.Format(*format), splitCols(*columns), splitCols(*partBy))
		if err != nil {
			fmt.Fprintln(stderr, "dagctl catalog:", err)
			return 2
		}
		t.Storage.Location = *location
		if err := cat.CreateTable(ctx, t); err != nil {
			fmt.Fprintln(stderr, "dagctl catalog:", err)
			return 1
		}
		fmt.Fprintf(stdout, "created %s\n", t.FullName())
	case "partitions":
		db, tbl, ok := needTable()
		if !ok {
			return 2
		}
		names, err := cat.PartitionNames(ctx, db, tbl)
		if err != nil {
			fmt.Fprintln(stderr, "dagctl catalog:", err)
			return 1
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
	default:
		fmt.Fprintf(stderr, "dagctl catalog: unknown subcommand %q\n%s", sub, use)
		return 2
	}
	return 0
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
