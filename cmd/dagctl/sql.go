package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

func sqlCommand(a *app) *cobra.Command {
	var file, mode, format string
	var parallelism int
	cmd := &cobra.Command{
		Use:   "sql [-f FILE]",
		Short: "run a SQL script embedded, or an interactive SQL shell (CREATE TABLE, CREATE VIEW, INSERT INTO, SELECT, EXPLAIN)",
		Long: `sql compiles a script of SQL statements (docs/sql.md) into a dataflow job and
runs it in this process on an embedded cluster. INSERT INTO statements write
their sink tables; the rows of a top-level SELECT are printed as a table once
the job has succeeded (bounded queries). A script holding EXPLAIN prints the
job's plan (vertices, edges with their exchange modes, pipelined regions)
instead of running it. -f - reads the script from standard input.

A SQL error (syntax, unknown table or column, type error) exits with code 2
and names the line and column.

Without -f, sql is a shell for bounded ad-hoc queries: it reads statements
from standard input, each ended by ';' and possibly over several lines, and
runs each as it is complete. Tables and views created stay for the
statements after them; a SELECT prints its rows as a table, an INSERT INTO
runs its job, EXPLAIN prints the plan. A failed statement prints its error
(with the input's line and column) and the shell goes on; when standard
input is not a terminal (a piped script), the exit code is 1 if any
statement failed.`,
		Example: `  dagctl sql -f job.sql --mode streaming --parallelism 4
  echo "EXPLAIN SELECT …" | dagctl sql -f - --format dot
  dagctl sql                 # the shell
  dagctl sql < queries.sql   # the shell over a script`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				m, err := dag.ParseExecutionMode(mode)
				if err != nil {
					return usageErrorf("%v", err)
				}
				if parallelism < 1 {
					return usageErrorf("sql: --parallelism must be at least 1")
				}
				prompt := stdinIsTerminal()
				cfg := dag.Config{Parallelism: parallelism, Mode: m}
				ctx := cmd.Context()
				if ctx == nil {
					ctx = context.Background()
				}
				if n := sqlShell(ctx, a, cmd.InOrStdin(), prompt, cfg, format); n > 0 && !prompt {
					return failed(fmt.Errorf("sql: %d statements failed", n))
				}
				return nil
			}
			var src []byte
			var err error
			if file == "-" {
				src, err = io.ReadAll(os.Stdin)
			} else {
				src, err = os.ReadFile(file)
			}
			if err != nil {
				return usageErrorf("sql: %v", err)
			}
			m, err := dag.ParseExecutionMode(mode)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if parallelism < 1 {
				return usageErrorf("sql: --parallelism must be at least 1")
			}
			name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
			if file == "-" {
				name = "sql"
			}
			g := dag.New(name, dag.Config{Parallelism: parallelism, Mode: m})
			env := sql.NewEnv()
			env.Stdout = a.stdout
			job, err := env.Compile(g, string(src))
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			if job.Explain {
				plan, err := g.Build()
				if err != nil {
					return failed(err)
				}
				if err := plan.Explain(a.stdout, format); err != nil {
					return usageErrorf("%v", err)
				}
				return nil
			}
			if len(job.Inserts) == 0 && len(job.Results) == 0 {
				return usageErrorf("%s: the script has no INSERT INTO or SELECT to run", file)
			}
			if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: a.log, Progress: nil}); err != nil {
				return failed(err)
			}
			for i, res := range job.Results {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				printResult(a.stdout, res)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the SQL script (- for standard input)")
	f.StringVar(&mode, "mode", "auto", "execution mode: auto, batch or streaming")
	f.IntVar(&parallelism, "parallelism", 2, "default parallelism of the job's operators")
	f.StringVar(&format, "format", "text", "EXPLAIN output: text, json or dot")
	return cmd
}

// printResult prints a SELECT's rows as an aligned table, sorted.
func printResult(w io.Writer, res *sql.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var names []string
	for _, c := range res.Schema {
		names = append(names, c.Name)
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	var lines []string
	for _, r := range res.Rows() {
		lines = append(lines, strings.Join(sql.FormatRow(res.Schema, r), "\t"))
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	tw.Flush()
	fmt.Fprintf(w, "(%d rows)\n", len(lines))
}
