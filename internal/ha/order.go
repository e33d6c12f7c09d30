package ha

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// candidatePrefix starts every candidate node's name.
const candidatePrefix = "c_"

// Order decides a candidate's place in the election from the children of
// the election node: whether mine leads (the lowest sequence number), and
// otherwise which candidate it must watch (its immediate predecessor).
// Children that are not candidate nodes are ignored.
func Order(children []string, mine string) (lead bool, watch string, err error) {
	type cand struct {
		name string
		seq  int64
	}
	var cs []cand
	found := false
	for _, c := range children {
		seq, ok := sequence(c)
		if !ok {
			continue
		}
		cs = append(cs, cand{c, seq})
		if c == mine {
			found = true
		}
	}
	if !found {
		return false, "", fmt.Errorf("ha: candidate %s is not in the election (session expired?)", mine)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].seq < cs[j].seq })
	for i, c := range cs {
		if c.name == mine {
			if i == 0 {
				return true, "", nil
			}
			return false, cs[i-1].name, nil
		}
	}
	panic("unreachable")
}

// sequence parses the sequence number ZooKeeper appended to a candidate
// node's name (ten digits).
func sequence(name string) (int64, bool) {
	if !strings.HasPrefix(name, candidatePrefix) || len(name) < len(candidatePrefix)+10 {
		return 0, false
	}
	n, err := strconv.ParseInt(name[len(name)-10:], 10, 64)
	return n, err == nil
}
