package devca_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/dagflow/dagflow/internal/devca"
)

// The calls behind "dagctl certs init" and "dagctl certs issue".
func Example() {
	dir, err := os.MkdirTemp("", "devca")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// dagctl certs init --dir DIR
	if _, err := devca.InitDir(dir, "dagflow dev CA", devca.Options{}); err != nil {
		log.Fatal(err)
	}
	// dagctl certs issue --dir DIR --node worker-1 --host w1.example,10.0.0.5
	ca, err := devca.LoadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	node, err := ca.IssueNode("worker-1", []string{"w1.example", "10.0.0.5"}, devca.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := devca.WritePair(dir, "worker-1", node, false); err != nil {
		log.Fatal(err)
	}
	// dagctl certs issue --dir DIR --user alice
	user, err := ca.IssueClient("alice", devca.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := devca.WritePair(dir, "alice", user, false); err != nil {
		log.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key", "worker-1.crt", "worker-1.key", "alice.crt", "alice.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(f, st.Mode().Perm())
	}
	// Output:
	// ca.crt -rw-r--r--
	// ca.key -rw-------
	// worker-1.crt -rw-r--r--
	// worker-1.key -rw-------
	// alice.crt -rw-r--r--
	// alice.key -rw-------
}
