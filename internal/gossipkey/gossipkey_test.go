package gossipkey

import (
	"bytes"
	"encoding/base64"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func key(b byte, n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n)) }

func TestParseKeys(t *testing.T) {
	k1, k2 := key(1, 16), key(2, 32)
	tests := []struct {
		in      string
		wantN   int
		wantErr string
	}{
		{k1, 1, ""},
		{k1 + "," + k2, 2, ""},
		{" " + k2 + " , " + key(3, 24) + " ", 2, ""},
		{"", 0, "no key given"},
		{k1 + ",", 0, "key 2 of 2 is empty"},
		{"not base64!", 0, "key 1 is not standard base64"},
		{k1 + "," + key(4, 10), 0, "key 2 is 10 bytes, want 16, 24 or 32"},
		{k1 + "," + k2 + "," + k1, 0, "key 3 repeats key 1"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			keys, err := ParseKeys(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), k1) {
					t.Fatalf("error echoes a key: %v", err)
				}
				return
			}
			if err != nil || len(keys) != tc.wantN {
				t.Fatalf("got %d keys, %v; want %d", len(keys), err, tc.wantN)
			}
		})
	}
	kr, err := Keyring(k2 + "," + k1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kr.GetPrimaryKey(), bytes.Repeat([]byte{2}, 32)) || len(kr.GetKeys()) != 2 {
		t.Fatal("first key is not the primary")
	}
	g, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := ParseKeys(g); err != nil || len(keys[0]) != 32 {
		t.Fatalf("generated key %v: %v", keys, err)
	}
}

type node struct {
	ml     *memberlist.Memberlist
	kr     *memberlist.Keyring
	events chan memberlist.NodeEvent
}

// start runs a memberlist named name on loopback; spec is a --gossip-key
// value, "" for none.
func start(t *testing.T, name, spec string) *node {
	t.Helper()
	cfg := memberlist.DefaultLocalConfig()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.AdvertisePort = 0
	cfg.Logger = log.New(io.Discard, "", 0)
	n := &node{events: make(chan memberlist.NodeEvent, 64)}
	cfg.Events = &memberlist.ChannelEventDelegate{Ch: n.events}
	if spec != "" {
		kr, err := Keyring(spec)
		if err != nil {
			t.Fatal(err)
		}
		Apply(cfg, kr)
		n.kr = kr
	}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	n.ml = ml
	return n
}

func (n *node) addr() string { return n.ml.LocalNode().Address() }

// awaitJoin waits for the join event of name.
func (n *node) awaitJoin(t *testing.T, name string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-n.events:
			if e.Event == memberlist.NodeJoin && e.Node.Name == name {
				return
			}
		case <-timeout:
			t.Fatalf("%s never saw %s join", n.ml.LocalNode().Name, name)
		}
	}
}

func TestJoinNeedsTheKey(t *testing.T) {
	k1, k2 := key(1, 32), key(2, 32)
	tests := []struct {
		name     string
		joiner   string
		wantJoin bool
	}{
		{"same key", k1, true},
		{"same primary, extra secondary", k1 + "," + k2, true},
		{"secondary only: its primary is unknown", k2 + "," + k1, false},
		{"no key", "", false},
		{"other key", k2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := start(t, "a", k1)
			b := start(t, "b", tc.joiner)
			_, err := b.ml.Join([]string{a.addr()})
			if !tc.wantJoin {
				if err == nil {
					t.Fatal("a node without the key joined")
				}
				if a.ml.NumMembers() != 1 || b.ml.NumMembers() != 1 {
					t.Fatalf("members a=%d b=%d, want 1 each", a.ml.NumMembers(), b.ml.NumMembers())
				}
				return
			}
			if err != nil {
				t.Fatalf("join: %v", err)
			}
			a.awaitJoin(t, "b")
			b.awaitJoin(t, "a")
		})
	}
}

// TestRotation rotates the key of a live two-node cluster in three steps,
// one node at a time. After every change both nodes still exchange state
// (a push-pull Join each way succeeds), and at the end the old key no
// longer gets anyone in.
func TestRotation(t *testing.T) {
	oldK, newK := key(1, 32), key(2, 32)
	a := start(t, "a", oldK)
	b := start(t, "b", oldK)
	if _, err := b.ml.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	a.awaitJoin(t, "b")
	b.awaitJoin(t, "a")

	together := func(step string) {
		t.Helper()
		if _, err := b.ml.Join([]string{a.addr()}); err != nil {
			t.Fatalf("%s: b -> a: %v", step, err)
		}
		if _, err := a.ml.Join([]string{b.addr()}); err != nil {
			t.Fatalf("%s: a -> b: %v", step, err)
		}
		if a.ml.NumMembers() != 2 || b.ml.NumMembers() != 2 {
			t.Fatalf("%s: members a=%d b=%d, want 2", step, a.ml.NumMembers(), b.ml.NumMembers())
		}
	}
	steps := []struct {
		name string
		spec string
	}{
		{"1 add new as secondary", oldK + "," + newK},
		{"2 make new primary", newK + "," + oldK},
		{"3 remove old", newK},
	}
	for _, s := range steps {
		for _, n := range []*node{a, b} {
			if err := Update(n.kr, s.spec); err != nil {
				t.Fatal(err)
			}
			together(s.name + " on " + n.ml.LocalNode().Name)
		}
	}
	if len(a.kr.GetKeys()) != 1 || !bytes.Equal(a.kr.GetPrimaryKey(), bytes.Repeat([]byte{2}, 32)) {
		t.Fatal("keyring of a does not hold just the new key")
	}
	stale := start(t, "stale", oldK)
	if _, err := stale.ml.Join([]string{a.addr()}); err == nil {
		t.Fatal("a node with the removed key joined")
	}
	fresh := start(t, "fresh", newK)
	if _, err := fresh.ml.Join([]string{a.addr()}); err != nil {
		t.Fatalf("a node with the new key: %v", err)
	}
}

// TestRotationOutOfOrder shows why step 1 must reach every node first: a
// node whose primary is a key the other does not know is shut out.
func TestRotationOutOfOrder(t *testing.T) {
	oldK, newK := key(1, 32), key(2, 32)
	a := start(t, "a", newK+","+oldK)
	b := start(t, "b", oldK)
	if _, err := a.ml.Join([]string{b.addr()}); err == nil {
		t.Fatal("join succeeded although b cannot decrypt a's primary key")
	}
}
