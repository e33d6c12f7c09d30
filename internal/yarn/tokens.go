package yarn

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// Token kinds YARN and HDFS issue.
const (
	// KindAMRMToken authenticates an ApplicationMaster to the scheduler.
	KindAMRMToken = "YARN_AM_RM_TOKEN"
	// KindNMToken authenticates an ApplicationMaster to a NodeManager.
	KindNMToken = "NMToken"
	// KindContainerToken authorizes starting one container.
	KindContainerToken = "ContainerToken"
	// KindHDFSDelegationToken is an HDFS delegation token.
	KindHDFSDelegationToken = "HDFS_DELEGATION_TOKEN"
)

// TokenFileEnv names the credentials file of a YARN container.
const TokenFileEnv = "HADOOP_TOKEN_FILE_LOCATION"

// TokenFromProto converts a TokenProto.
func TokenFromProto(t *pb.TokenProto) hadooprpc.Token {
	return hadooprpc.Token{Identifier: t.GetIdentifier(), Password: t.GetPassword(), Kind: t.GetKind(), Service: t.GetService()}
}

// TokenToProto converts a token to a TokenProto.
func TokenToProto(t hadooprpc.Token) *pb.TokenProto {
	return &pb.TokenProto{Identifier: t.Identifier, Password: t.Password, Kind: proto.String(t.Kind), Service: proto.String(t.Service)}
}

// credentialsFromEnv reads $HADOOP_TOKEN_FILE_LOCATION, nil when unset.
func credentialsFromEnv() (*hadooprpc.Credentials, error) {
	path := os.Getenv(TokenFileEnv)
	if path == "" {
		return nil, nil
	}
	c, err := hadooprpc.ReadCredentialsFile(path)
	if err != nil {
		return nil, fmt.Errorf("yarn: %s: %w", TokenFileEnv, err)
	}
	return c, nil
}

// NMTokenCache holds the NMTokens an ApplicationMaster received (in the
// register and allocate responses), by NodeManager address. It is safe
// for concurrent use.
type NMTokenCache struct {
	mu     sync.Mutex
	tokens map[string]hadooprpc.Token
	// onChange is called (without mu) for a node whose token changed.
	onChange []func(addr string, t hadooprpc.Token)
}

// NewNMTokenCache returns an empty cache.
func NewNMTokenCache() *NMTokenCache {
	return &NMTokenCache{tokens: make(map[string]hadooprpc.Token)}
}

// Add records NMTokens.
func (c *NMTokenCache) Add(tokens []*pb.NMTokenProto) {
	for _, t := range tokens {
		if t.GetToken() == nil || t.GetNodeId() == nil {
			continue
		}
		addr := NodeAddress(t.GetNodeId())
		tok := TokenFromProto(t.GetToken())
		c.mu.Lock()
		c.tokens[addr] = tok
		fns := c.onChange
		c.mu.Unlock()
		for _, f := range fns {
			f(addr, tok)
		}
	}
}

// Get returns the token of the NodeManager at addr.
func (c *NMTokenCache) Get(addr string) (hadooprpc.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[addr]
	return t, ok
}

func (c *NMTokenCache) watch(f func(addr string, t hadooprpc.Token)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = append(c.onChange, f)
}

// authHint explains an authentication refusal: which token was missing.
func authHint(err error, what string, have bool) error {
	var re *hadooprpc.RemoteError
	if !errors.As(err, &re) || (re.Class != hadooprpc.ExAccessControl && re.Class != hadooprpc.ExInvalidToken && re.Class != hadooprpc.ExSasl) {
		return err
	}
	if !have {
		return fmt.Errorf("%w (the server requires token authentication and this client has no %s)", err, what)
	}
	return fmt.Errorf("%w (the server refused this client's %s)", err, what)
}
