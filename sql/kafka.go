package sql

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/kafka"
	"github.com/dagflow/dagflow/sql/row"
)

// kafkaConnector reads and writes Kafka topics (package io/kafka), after
// Flink's kafka connector:
//
//	'topic'                         the topic (required)
//	'properties.bootstrap.servers'  brokers, comma-separated (required)
//	'format'                        'json' (default) or 'csv'
//	'scan.startup.mode'             'earliest-offset' (default) or
//	                                'latest-offset'
//	'scan.bounded.mode'             'unbounded' (default) or
//	                                'latest-offset': stop at the end
//	                                offsets found when the job starts
//
// JSON values map fields to columns by name (a missing or mistyped one is
// NULL), CSV values by position; a malformed value fails the job with its
// topic, partition and offset. The sink writes one value per row, without
// a key, at least once.
type kafkaConnector struct{}

func kafkaOptions(t *Table) (brokers []string, topic, format string, err error) {
	topic = t.Option("topic", "")
	servers := t.Option("properties.bootstrap.servers", "")
	format = strings.ToLower(t.Option("format", "json"))
	switch {
	case topic == "":
		return nil, "", "", fmt.Errorf("the kafka connector needs a 'topic' option")
	case servers == "":
		return nil, "", "", fmt.Errorf("the kafka connector needs a 'properties.bootstrap.servers' option")
	case format != "json" && format != "csv":
		return nil, "", "", fmt.Errorf("the kafka connector needs 'format' = 'json' or 'csv', got %q", format)
	}
	for _, s := range strings.Split(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			brokers = append(brokers, s)
		}
	}
	return brokers, topic, format, nil
}

// Source implements Connector.
func (kafkaConnector) Source(g *dag.Graph, t *Table) (dag.Stream[row.Row], error) {
	brokers, topic, format, err := kafkaOptions(t)
	if err != nil {
		return dag.Stream[row.Row]{}, err
	}
	opts := []kafka.SourceOption{kafka.Topics(topic)}
	switch m := t.Option("scan.startup.mode", "earliest-offset"); m {
	case "earliest-offset":
		opts = append(opts, kafka.StartEarliest())
	case "latest-offset":
		opts = append(opts, kafka.StartLatest())
	default:
		return dag.Stream[row.Row]{}, fmt.Errorf("'scan.startup.mode' = %q: want 'earliest-offset' or 'latest-offset'", m)
	}
	switch m := t.Option("scan.bounded.mode", "unbounded"); m {
	case "unbounded":
	case "latest-offset":
		opts = append(opts, kafka.BoundedAtEnd())
	default:
		return dag.Stream[row.Row]{}, fmt.Errorf("'scan.bounded.mode' = %q: want 'unbounded' or 'latest-offset'", m)
	}
	phys, decl := t.Physical, t.Declared
	writers := t.RowWriters()
	deser := func(r *kafka.Record) (row.Row, error) {
		w := writers.Get()
		defer writers.Put(w)
		if format == "json" {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Value, &m); err != nil {
				return nil, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			return jsonRow(w, phys, m), nil
		}
		fields, err := csv.NewReader(strings.NewReader(string(r.Value))).Read()
		if err == nil && len(fields) != len(decl) {
			err = fmt.Errorf("%d fields, want %d %s", len(fields), len(decl), decl)
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		for i, c := range phys {
			if err := parseField(w, i, c.Type, fields[decl.Index(c.Name)]); err != nil {
				w.Row() // start over
				return nil, fmt.Errorf("%s/%d@%d: column %s: %w", r.Topic, r.Partition, r.Offset, c.Name, err)
			}
		}
		out, _ := w.Row()
		return out, nil
	}
	return dag.FromSource(g, "source-"+t.Name, kafka.NewSource(brokers, deser, opts...), nil,
		dag.WithCoder[row.Row](t.RowCoder())), nil
}

// Sink implements Connector.
func (kafkaConnector) Sink(t *Table) (dag.Sink[row.Row], error) {
	brokers, topic, format, err := kafkaOptions(t)
	if err != nil {
		return nil, err
	}
	phys := t.Physical
	ser := func(dst *kafka.Record, r row.Row) error {
		if format == "json" {
			dst.Value = appendJSONRow(nil, phys, r)
			return nil
		}
		var b strings.Builder
		cw := csv.NewWriter(&b)
		if err := cw.Write(FormatRow(phys, r)); err != nil {
			return err
		}
		cw.Flush()
		dst.Value = []byte(strings.TrimSuffix(b.String(), "\n"))
		return cw.Error()
	}
	return kafka.NewSink(brokers, topic, ser), nil
}
