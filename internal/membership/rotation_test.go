package membership

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dagflow/dagflow/internal/gossipkey"
)

// TestGossipKeyRotationLive rotates the gossip key of a live
// three-member cluster through its key files, one member at a time, in
// the three documented steps. After every single change every member
// still exchanges state with every other (push-pull joins succeed both
// ways) and sees all three alive. Finally a member holding only the
// removed key is refused.
func TestGossipKeyRotationLive(t *testing.T) {
	oldK := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	newK := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	dir := t.TempDir()
	put := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	type node struct {
		name string
		file *gossipkey.File
		m    *Member
	}
	var nodes []*node
	for _, name := range []string{"master", "w1", "w2"} {
		path := filepath.Join(dir, name+".keys")
		put(path, "# gossip keys, primary first\n"+oldK+"\n")
		f, err := gossipkey.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Start(Config{Name: name, BindAddr: "127.0.0.1", FailureTimeout: 3 * time.Second, Keyring: f.Keyring()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		nodes = append(nodes, &node{name, f, m})
	}
	for _, n := range nodes[1:] {
		if err := n.m.Join(nodes[0].m.Address()); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"master", "w1", "w2"}
	together := func(step string) {
		t.Helper()
		for _, a := range nodes {
			for _, b := range nodes {
				if a != b {
					if err := a.m.Join(b.m.Address()); err != nil {
						t.Fatalf("%s: %s cannot reach %s: %v", step, a.name, b.name, err)
					}
				}
			}
		}
		for _, n := range nodes {
			waitFor(t, func() bool {
				alive := n.m.Alive()
				slices.Sort(alive)
				return slices.Equal(alive, all)
			})
		}
	}
	together("before")
	steps := []struct{ name, file string }{
		{"1 add the new key", oldK + "\n" + newK + "\n"},
		{"2 make it primary", newK + "\n" + oldK + "\n"},
		{"3 remove the old key", newK + "\n"},
	}
	for _, s := range steps {
		for _, n := range nodes {
			put(n.file.Path(), s.file)
			if changed, err := n.file.Reload(); !changed || err != nil {
				t.Fatalf("%s on %s: changed=%v err=%v", s.name, n.name, changed, err)
			}
			together(s.name + " on " + n.name)
		}
	}
	stale, err := Start(Config{Name: "stale", BindAddr: "127.0.0.1", Keyring: mustKeyring(t, oldK)})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := stale.Join(nodes[0].m.Address()); err == nil {
		t.Fatal("a member with only the removed key joined")
	}
	fresh, err := Start(Config{Name: "fresh", BindAddr: "127.0.0.1", Keyring: mustKeyring(t, newK)})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.Join(nodes[0].m.Address()); err != nil {
		t.Fatalf("a member with the new key: %v", err)
	}
	for _, n := range nodes {
		if slices.Contains(n.m.Alive(), "stale") {
			t.Fatalf("%s lists the stale member", n.name)
		}
	}
}

func mustKeyring(t *testing.T, spec string) *memberlist.Keyring {
	t.Helper()
	kr, err := gossipkey.Keyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
