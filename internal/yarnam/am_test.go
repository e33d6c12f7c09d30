package yarnam

import (
	"testing"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/yarn"
)

// TestWorkerTokens: workers get the AM's credentials without the
// AMRMToken, in a form Hadoop reads.
func TestWorkerTokens(t *testing.T) {
	if b := workerTokens(nil); b != nil {
		t.Fatalf("no credentials: got %q", b)
	}
	amOnly := &hadooprpc.Credentials{}
	amOnly.AddToken("am", hadooprpc.Token{Identifier: []byte("a"), Kind: yarn.KindAMRMToken})
	if b := workerTokens(amOnly); b != nil {
		t.Fatalf("only an AMRMToken: got %q", b)
	}
	c := &hadooprpc.Credentials{Secrets: map[string][]byte{"k": []byte("v")}}
	c.AddToken("am", hadooprpc.Token{Identifier: []byte("a"), Kind: yarn.KindAMRMToken})
	c.AddToken("hdfs", hadooprpc.Token{Identifier: []byte("d"), Password: []byte("p"), Kind: yarn.KindHDFSDelegationToken, Service: "nn:8020"})
	got, err := hadooprpc.ParseCredentials(workerTokens(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.TokenOfKind(yarn.KindAMRMToken); ok {
		t.Error("the AMRMToken was passed to workers")
	}
	if d, ok := got.TokenOfKind(yarn.KindHDFSDelegationToken); !ok || string(d.Identifier) != "d" || d.Service != "nn:8020" {
		t.Errorf("delegation token: %+v %v", d, ok)
	}
	if string(got.Secrets["k"]) != "v" {
		t.Errorf("secrets: %v", got.Secrets)
	}
}
