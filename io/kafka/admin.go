package kafka

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// defaultConnectTimeout bounds how long admin requests retry unreachable
// brokers.
const defaultConnectTimeout = 30 * time.Second

// newAdminClient returns a client for metadata and admin requests.
func newAdminClient(brokers []string, extra []kgo.Opt) (*kgo.Client, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.MaxVersions(nameVersions())}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: creating client for brokers %s: %w", strings.Join(brokers, ","), err)
	}
	return cl, nil
}

// nameVersions caps OffsetCommit and OffsetFetch below v10, which name
// topics by id, so that the requests built here can name them.
func nameVersions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(8, 9) // OffsetCommit
	v.SetMaxKeyVersion(9, 9) // OffsetFetch
	return v
}

// request issues req, retrying (kgo backs off between attempts) until
// timeout; an error names the brokers.
func request(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, req kmsg.Request) (kmsg.Response, error) {
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		resp, err := cl.Request(rctx, req)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kafka: %s request to brokers %s: %w", kmsg.NameForKey(req.Key()), strings.Join(brokers, ","), ctx.Err())
		}
		if rctx.Err() != nil {
			return nil, fmt.Errorf("kafka: brokers %s unreachable within %s (%s request): %w", strings.Join(brokers, ","), timeout, kmsg.NameForKey(req.Key()), lastErr)
		}
		select {
		case <-rctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// partitionsOf returns the partitions of topics (sorted), or of every topic
// matching pattern. A missing topic is an error naming it.
func partitionsOf(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, topics []string, pattern *regexp.Regexp) (map[string][]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	if pattern == nil {
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	} else {
		req.Topics = nil // all topics
	}
	kresp, err := request(ctx, cl, brokers, timeout, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.MetadataResponse)
	out := make(map[string][]int32)
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		name := *t.Topic
		if pattern != nil && (t.IsInternal || !pattern.MatchString(name)) {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("kafka: topic %q does not exist on brokers %s", name, strings.Join(brokers, ","))
			}
			return nil, fmt.Errorf("kafka: metadata of topic %q: %w", name, err)
		}
		ps := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, p.Partition)
		}
		slices.Sort(ps)
		out[name] = ps
	}
	if pattern != nil {
		if len(out) == 0 {
			return nil, fmt.Errorf("kafka: no topic matches pattern %q on brokers %s", pattern, strings.Join(brokers, ","))
		}
		return out, nil
	}
	for _, t := range topics {
		if _, ok := out[t]; !ok {
			return nil, fmt.Errorf("kafka: topic %q does not exist on brokers %s", t, strings.Join(brokers, ","))
		}
	}
	return out, nil
}

// Special ListOffsets timestamps.
const (
	listLatest   int64 = -1
	listEarliest int64 = -2
)

// listOffsets returns, per partition, the offset for ts (listLatest,
// listEarliest or a Unix ms timestamp: the first offset whose record time
// is >= ts, or the end offset if there is none). readCommitted makes the
// latest offset the last stable offset.
func listOffsets(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, parts map[string][]int32, ts int64, readCommitted bool) (map[TopicPartition]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	if readCommitted {
		req.IsolationLevel = 1
	}
	for _, t := range sortedTopics(parts) {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = t
		for _, p := range parts[t] {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.CurrentLeaderEpoch = -1
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := request(ctx, cl, brokers, timeout, req)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64)
	var missing map[string][]int32
	for _, t := range kresp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			tp := TopicPartition{t.Topic, p.Partition}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("kafka: listing offsets of %s: %w", tp, err)
			}
			if p.Offset < 0 && ts >= 0 {
				// No record at or after ts: start at the end.
				if missing == nil {
					missing = make(map[string][]int32)
				}
				missing[t.Topic] = append(missing[t.Topic], p.Partition)
				continue
			}
			out[tp] = p.Offset
		}
	}
	if missing != nil {
		ends, err := listOffsets(ctx, cl, brokers, timeout, missing, listLatest, readCommitted)
		if err != nil {
			return nil, err
		}
		for tp, o := range ends {
			out[tp] = o
		}
	}
	for t, ps := range parts {
		for _, p := range ps {
			if _, ok := out[TopicPartition{t, p}]; !ok {
				return nil, fmt.Errorf("kafka: no offset listed for %s/%d", t, p)
			}
		}
	}
	return out, nil
}

// committedOffsets returns the offsets group committed for parts; absent
// partitions have no committed offset.
func committedOffsets(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, group string, parts map[string][]int32) (map[TopicPartition]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	for _, t := range sortedTopics(parts) {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic = t
		rt.Partitions = append([]int32(nil), parts[t]...)
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := request(ctx, cl, brokers, timeout, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.OffsetFetchResponse)
	out := make(map[TopicPartition]int64)
	add := func(topic string, p int32, off int64, code int16) error {
		if err := kerr.ErrorForCode(code); err != nil {
			return fmt.Errorf("kafka: committed offset of group %q for %s/%d: %w", group, topic, p, err)
		}
		if off >= 0 {
			out[TopicPartition{topic, p}] = off
		}
		return nil
	}
	if len(resp.Groups) > 0 {
		g := resp.Groups[0]
		if err := kerr.ErrorForCode(g.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("kafka: committed offsets of group %q: %w", group, err)
		}
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				if err := add(t.Topic, p.Partition, p.Offset, p.ErrorCode); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil
	} else if err != nil {
		return nil, fmt.Errorf("kafka: committed offsets of group %q: %w", group, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := add(t.Topic, p.Partition, p.Offset, p.ErrorCode); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// commitOffsets commits offsets for group without joining it (generation
// -1, as standalone consumers do).
func commitOffsets(ctx context.Context, cl *kgo.Client, group string, offsets map[TopicPartition]int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	byTopic := make(map[string][]kmsg.OffsetCommitRequestTopicPartition)
	for tp, o := range offsets {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition = tp.Partition
		p.Offset = o
		p.LeaderEpoch = -1
		byTopic[tp.Topic] = append(byTopic[tp.Topic], p)
	}
	for t, ps := range byTopic {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = t
		rt.Partitions = ps
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := cl.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: committing offsets of group %q: %w", group, err)
	}
	for _, t := range kresp.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("kafka: committing offset of group %q for %s/%d: %w", group, t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

func sortedTopics(parts map[string][]int32) []string {
	ts := make([]string, 0, len(parts))
	for t := range parts {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}
