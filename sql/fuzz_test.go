package sql_test

import (
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

// FuzzCompile: no script makes the planner panic; bad ones are errors.
func FuzzCompile(f *testing.F) {
	const ddl = `CREATE TABLE t (a BIGINT, s VARCHAR, d DECIMAL(10, 2), x DOUBLE, ts TIMESTAMP(3), c AS a * 2,
WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'filesystem', 'path' = 'x', 'format' = 'csv');
CREATE TABLE o (a BIGINT, s VARCHAR) WITH ('connector' = 'blackhole');
`
	for _, s := range []string{
		"SELECT a, s || 'x', d * 2, x / 3, CASE WHEN a > 1 THEN s END FROM t WHERE s LIKE 'a%' AND a IN (1, 2)",
		"INSERT INTO o SELECT a, s FROM t; SELECT * FROM t UNION ALL SELECT * FROM t",
		"SELECT s, COUNT(*), SUM(d), AVG(x), MIN(s), window_start FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '3' SECOND)) GROUP BY s, window_start, window_end HAVING COUNT(*) > 1",
		"CREATE VIEW v AS SELECT a, ts FROM t; SELECT MAX(a) FROM TABLE(SESSION(TABLE v PARTITION BY a, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY a, window_start, window_end",
		"SELECT * FROM (SELECT a AS b, ts FROM t) AS q WHERE b BETWEEN 1 AND CAST('5' AS BIGINT)",
		"EXPLAIN SELECT COALESCE(NULL, a), SUBSTRING(s, 2), SPLIT_INDEX(s, '/', 1), HOUR(ts) FROM t",
		"SELECT x.a, y.s FROM t x JOIN t y ON x.a = y.a AND x.s <> y.s WHERE x.d > 1; SELECT * FROM t, o WHERE t.s = o.s",
		"SELECT s, DATE_FORMAT(ts, 'yyyy-MM-dd') AS day, COUNT(*) FILTER (WHERE a > 1), MAX(d) FROM t GROUP BY s, DATE_FORMAT(ts, 'yyyy-MM-dd') HAVING MIN(a) < 3",
		"SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY s ORDER BY d DESC, ts) AS rn FROM t WHERE a > 0) WHERE rn <= 3 AND a < 9",
		"CREATE VIEW r AS SELECT a, ROW_NUMBER() OVER (PARTITION BY a ORDER BY ts DESC) AS k FROM t; SELECT a FROM r WHERE k = 1",
		"SELECT DISTINCT s FROM t ORDER BY s LIMIT 4",
		"CREATE VIEW p AS SELECT s, PROCTIME() AS pt FROM t; SELECT s, COUNT(*) FROM TABLE(TUMBLE(TABLE p, DESCRIPTOR(pt), INTERVAL '1' SECOND)) GROUP BY s, window_start, window_end",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		env := sql.NewEnv()
		g := dag.New("fuzz", dag.Config{Parallelism: 2})
		if _, err := env.Compile(g, ddl+src); err != nil {
			return
		}
		_, _ = g.Build()
	})
}
