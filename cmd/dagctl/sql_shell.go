package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

// sqlShell runs the statements read from in one at a time, each ended by
// a semicolon and possibly spread over several lines: CREATE TABLE and
// CREATE VIEW stay for the statements after them; an
// INSERT INTO or SELECT runs as its own bounded job, whose SELECT rows are
// printed as a table; EXPLAIN prints the plan. A bad statement prints its
// error and the shell goes on. prompt is set when in is a terminal. It
// returns the number of statements that failed.
func sqlShell(ctx context.Context, a *app, in io.Reader, prompt bool, cfg dag.Config, format string) int {
	env := sql.NewEnv()
	env.Stdout = a.stdout
	failures, n := 0, 0
	sp := &stmtSplitter{}
	r := bufio.NewReader(in)
	for {
		if prompt {
			if sp.empty() {
				fmt.Fprint(a.stdout, "dagflow> ")
			} else {
				fmt.Fprint(a.stdout, "      -> ")
			}
		}
		line, err := r.ReadString('\n')
		stmts := sp.feed(line)
		if err != nil { // end of input: a last statement without ';' runs too
			stmts = append(stmts, sp.flush()...)
		}
		for _, s := range stmts {
			n++
			if !runShellStatement(ctx, a, env, s, n, cfg, format) {
				failures++
			}
		}
		if err != nil {
			if prompt {
				fmt.Fprintln(a.stdout)
			}
			return failures
		}
	}
}

// runShellStatement compiles and runs one statement; false when it failed.
func runShellStatement(ctx context.Context, a *app, env *sql.Env, s shellStatement, n int, cfg dag.Config, format string) bool {
	g := dag.New(fmt.Sprintf("sql-%d", n), cfg)
	// Pad the statement to where it stands in the input, so that errors
	// name the input's line and column.
	src := strings.Repeat("\n", s.line-1) + strings.Repeat(" ", s.col-1) + s.text
	job, err := env.Compile(g, src)
	if err != nil {
		fmt.Fprintf(a.stderr, "error: %v\n", err)
		return false
	}
	if job.Explain {
		plan, err := g.Build()
		if err == nil {
			err = plan.Explain(a.stdout, format)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "error: %v\n", err)
			return false
		}
		return true
	}
	if len(job.Inserts) == 0 && len(job.Results) == 0 {
		fmt.Fprintln(a.stdout, "OK")
		return true
	}
	if _, err := dagflow.Run(ctx, g, dagflow.Options{Logger: a.log}); err != nil {
		fmt.Fprintf(a.stderr, "error: %v\n", err)
		return false
	}
	for i, res := range job.Results {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		printResult(a.stdout, res)
	}
	if len(job.Results) == 0 {
		fmt.Fprintf(a.stdout, "OK: wrote %s\n", strings.Join(job.Inserts, ", "))
	}
	return true
}

// shellStatement is one statement of the shell's input and where it
// starts (1-based line and column).
type shellStatement struct {
	text      string
	line, col int
}

// stmtSplitter cuts input into statements at semicolons outside string
// literals, quoted names and comments.
type stmtSplitter struct {
	buf       strings.Builder
	line, col int // where the next byte fed goes
	startLine int // where buf's statement starts; 0 before its first non-space byte
	startCol  int
	// quote is the open quote (' " `), or '-' in a line comment, '*' in
	// a block comment, 0 outside.
	quote byte
	prev  byte
}

func (s *stmtSplitter) empty() bool { return s.startLine == 0 }

// feed adds input and returns the statements it completes.
func (s *stmtSplitter) feed(text string) []shellStatement {
	if s.line == 0 {
		s.line, s.col = 1, 1
	}
	var out []shellStatement
	for i := 0; i < len(text); i++ {
		c := text[i]
		if s.startLine == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ';' {
			s.startLine, s.startCol = s.line, s.col
		}
		end := false
		switch s.quote {
		case 0:
			switch {
			case c == '\'' || c == '"' || c == '`':
				s.quote = c
			case c == '-' && s.prev == '-':
				s.quote = '-'
			case c == '*' && s.prev == '/':
				s.quote = '*'
			case c == ';':
				end = true
			}
		case '-':
			if c == '\n' {
				s.quote = 0
			}
		case '*':
			if c == '/' && s.prev == '*' {
				s.quote = 0
				c = 0 // "*/*" does not open another comment
			}
		default:
			if c == s.quote {
				s.quote = 0
				c = 0 // '' is an escaped quote: the next ' opens again
			}
		}
		if end {
			if s.startLine != 0 && strings.TrimSpace(stripComments(s.buf.String())) != "" {
				out = append(out, shellStatement{text: s.buf.String(), line: s.startLine, col: s.startCol})
			}
			s.buf.Reset()
			s.startLine = 0
		} else if s.startLine != 0 {
			s.buf.WriteByte(text[i])
		}
		s.prev = c
		if text[i] == '\n' {
			s.line, s.col = s.line+1, 1
		} else {
			s.col++
		}
	}
	return out
}

// flush returns the statement left without a final semicolon, if it
// holds more than comments.
func (s *stmtSplitter) flush() []shellStatement {
	text := s.buf.String()
	s.buf.Reset()
	start := shellStatement{text: text, line: s.startLine, col: s.startCol}
	s.startLine = 0
	if strings.TrimSpace(stripComments(text)) == "" {
		return nil
	}
	return []shellStatement{start}
}

// stripComments drops -- and /* */ comments outside quotes.
func stripComments(text string) string {
	var b strings.Builder
	var q byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"' || c == '`':
			q = c
		case strings.HasPrefix(text[i:], "--"):
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j
			continue
		case strings.HasPrefix(text[i:], "/*"):
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			i += j + 3
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// stdinIsTerminal reports whether standard input is a terminal (the
// shell then prompts).
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
