package yarntest

import (
	"crypto/hmac"
	"crypto/sha1"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// The stand-in issues tokens as a ResourceManager does: the identifier is
// the serialized AMRMTokenIdentifierProto or NMTokenIdentifierProto, the
// password the HMAC-SHA1 of the identifier with the cluster's master key
// (SecretManager.createPassword). The scheduler endpoints and the
// NodeManagers require them (SASL TOKEN, DIGEST-MD5).

// masterKeyID is the keyId in the identifiers (one key, never rolled).
const masterKeyID = 1

// password is the password of a token identifier.
func (c *Cluster) password(id []byte) []byte {
	m := hmac.New(sha1.New, c.masterKey)
	m.Write(id)
	return m.Sum(nil)
}

func invalidToken(format string, args ...any) error {
	return &hadooprpc.RemoteError{Class: hadooprpc.ExInvalidToken, Message: fmt.Sprintf(format, args...)}
}

// amrmToken is the AMRMToken of an attempt; its service lists the
// attempt's scheduler addresses, as ClientRMProxy.getAMRMTokenService.
func (c *Cluster) amrmToken(at *attempt, sched []string) hadooprpc.Token {
	id, _ := proto.Marshal(&pb.AMRMTokenIdentifierProto{AppAttemptId: at.id.Proto(), KeyId: proto.Int32(masterKeyID)})
	return hadooprpc.Token{Identifier: id, Password: c.password(id), Kind: yarn.KindAMRMToken, Service: strings.Join(sched, ",")}
}

// schedulerTokens accepts the AMRMToken of attempt at only.
func (c *Cluster) schedulerTokens(at *attempt) hadooprpc.TokenVerifier {
	return func(b []byte) ([]byte, error) {
		var id pb.AMRMTokenIdentifierProto
		if err := proto.Unmarshal(b, &id); err != nil || id.GetAppAttemptId() == nil {
			return nil, invalidToken("the token is not an AMRMToken")
		}
		if got := yarn.AttemptIDFromProto(id.GetAppAttemptId()); got != at.id || id.GetKeyId() != masterKeyID {
			return nil, invalidToken("Invalid AMRMToken from %s", got)
		}
		return c.password(b), nil
	}
}

// nmTokenLocked returns the NMToken of attempt at for node n the first
// time at needs one (nil after).
func (c *Cluster) nmTokenLocked(at *attempt, n *nodeManager) *pb.NMTokenProto {
	if at.nmTokens[n.nodeID()] {
		return nil
	}
	at.nmTokens[n.nodeID()] = true
	id, _ := proto.Marshal(&pb.NMTokenIdentifierProto{AppAttemptId: at.id.Proto(), NodeId: n.nodeIDProto(),
		AppSubmitter: proto.String(at.user), KeyId: proto.Int32(masterKeyID)})
	return &pb.NMTokenProto{NodeId: n.nodeIDProto(), Token: yarn.TokenToProto(hadooprpc.Token{
		Identifier: id, Password: c.password(id), Kind: yarn.KindNMToken, Service: n.nodeID()})}
}

// nmTokens accepts NMTokens issued for node n.
func (c *Cluster) nmTokens(n *nodeManager) hadooprpc.TokenVerifier {
	return func(b []byte) ([]byte, error) {
		var id pb.NMTokenIdentifierProto
		if err := proto.Unmarshal(b, &id); err != nil || id.GetAppAttemptId() == nil || id.GetNodeId() == nil {
			return nil, invalidToken("the token is not an NMToken")
		}
		if got := yarn.NodeAddress(id.GetNodeId()); got != n.nodeID() || id.GetKeyId() != masterKeyID {
			return nil, invalidToken("Given NMToken for %s is not valid for the current node manager %s", got, n.nodeID())
		}
		return c.password(b), nil
	}
}

// tokenApp is the application of the NMToken a connection authenticated
// with.
func tokenApp(b []byte) yarn.ApplicationID {
	var id pb.NMTokenIdentifierProto
	proto.Unmarshal(b, &id)
	return yarn.AppIDFromProto(id.GetAppAttemptId().GetApplicationId())
}

// parseLaunchTokens parses ContainerLaunchContextProto.tokens (empty: no
// credentials).
func parseLaunchTokens(b []byte) (*hadooprpc.Credentials, error) {
	if len(b) == 0 {
		return &hadooprpc.Credentials{}, nil
	}
	return hadooprpc.ParseCredentials(b)
}
