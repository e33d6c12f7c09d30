package sql_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

// TestKafka reads JSON records from a topic (bounded at the offsets found
// at start) with a computed column and a WATERMARK used by a window,
// writes a projection to a second topic as CSV, and reads that back.
func TestKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "in", "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	sums := map[int]int{} // window (10 s) -> sum of v
	var wantOut []string
	for i := range 60 {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf(`{"id": %d, "v": %d, "ts": %d}`, i, i%7, 1_700_000_000_000+int64(i)*1000))})
		sums[i/10] += i % 7
		if i%7 == 3 {
			wantOut = append(wantOut, fmt.Sprintf("%d,%d", i, 2*(i%7)))
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ddl := fmt.Sprintf(`CREATE TABLE src (
  id BIGINT, v BIGINT, ts TIMESTAMP(3), w AS v * 2,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH ('connector' = 'kafka', 'topic' = 'in', 'properties.bootstrap.servers' = '%[1]s', 'scan.bounded.mode' = 'latest-offset');
CREATE TABLE dst (id BIGINT, w BIGINT) WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '%[1]s', 'format' = 'csv');
CREATE TABLE back (id BIGINT, w BIGINT) WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '%[1]s', 'format' = 'csv', 'scan.bounded.mode' = 'latest-offset');
`, brokers)
	env := sql.NewEnv()
	out, _ := run(t, env, ddl+`
SELECT SUM(v) AS s FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end;
INSERT INTO dst SELECT id, w FROM src WHERE v = 3;`, dag.StreamingMode)
	var want []string
	for i := range 6 {
		want = append(want, fmt.Sprint(sums[i]))
	}
	slices.Sort(want)
	if !slices.Equal(out[0], want) {
		t.Errorf("window sums %v, want %v", out[0], want)
	}
	slices.Sort(wantOut)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := run(t, env, "SELECT id, w FROM back;", dag.BatchMode)
		if slices.Equal(got[0], wantOut) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read back %v, want %v", got[0], wantOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []struct{ opts, want string }{
		{"'topic' = 'in'", "needs a 'properties.bootstrap.servers' option"},
		{"'properties.bootstrap.servers' = 'x:1'", "needs a 'topic' option"},
		{"'topic' = 'in', 'properties.bootstrap.servers' = 'x:1', 'format' = 'avro'", "'format' = 'json' or 'csv', got \"avro\""},
		{"'topic' = 'in', 'properties.bootstrap.servers' = 'x:1', 'scan.startup.mode' = 'group-offsets'", "'scan.startup.mode' = \"group-offsets\""},
	} {
		script := fmt.Sprintf("CREATE TABLE k (a BIGINT) WITH ('connector' = 'kafka', %s); SELECT a FROM k;", c.opts)
		if _, err := sql.NewEnv().Compile(dag.New("bad", dag.Config{}), script); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s", c.opts, err, c.want)
		}
	}
}
