package yarn

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// NMClient speaks ContainerManagementProtocol to NodeManagers, one
// connection per node.
type NMClient struct {
	opts   hadooprpc.Options
	tokens *NMTokenCache

	mu    sync.Mutex
	conns map[string]*hadooprpc.Conn
}

// NewNMClient returns a NodeManager client for cfg's user. With tokens
// (an ApplicationMaster's AMClient.NMTokens) it authenticates to each
// node with the node's NMToken, as NodeManagers require; without, it uses
// simple authentication.
func NewNMClient(cfg *Config, tokens *NMTokenCache) (*NMClient, error) {
	if cfg.Kerberos {
		return nil, ErrKerberos
	}
	n := &NMClient{
		opts:   hadooprpc.Options{Protocol: ContainerManagementProtocol, User: cfg.User, DialTimeout: cfg.DialTimeout},
		tokens: tokens,
		conns:  make(map[string]*hadooprpc.Conn),
	}
	if tokens != nil {
		tokens.watch(func(addr string, t hadooprpc.Token) {
			n.mu.Lock()
			c := n.conns[addr]
			n.mu.Unlock()
			if c != nil {
				c.SetToken(t)
			}
		})
	}
	return n, nil
}

// NodeAddress is the ContainerManagementProtocol address of a node id.
func NodeAddress(n *pb.NodeIdProto) string {
	return net.JoinHostPort(n.GetHost(), strconv.Itoa(int(n.GetPort())))
}

func (n *NMClient) conn(node *pb.NodeIdProto) *hadooprpc.Conn {
	addr := NodeAddress(node)
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.conns[addr]
	if !ok {
		opts := n.opts
		if n.tokens != nil {
			if t, ok := n.tokens.Get(addr); ok {
				opts.Token = &t
			}
		}
		c = hadooprpc.NewConn(addr, opts)
		n.conns[addr] = c
	}
	return c
}

// callErr explains a failed call on node addr.
func (n *NMClient) callErr(method, addr string, err error) error {
	have := false
	if n.tokens != nil {
		_, have = n.tokens.Get(addr)
	}
	return fmt.Errorf("yarn: %s on %s: %w", method, addr, authHint(err, "NMToken for "+addr, have))
}

// Close closes the connections.
func (n *NMClient) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for a, c := range n.conns {
		c.Close()
		delete(n.conns, a)
	}
	return nil
}

// ContainerError is a container a NodeManager could not start, stop or
// report.
type ContainerError struct {
	Container ContainerID
	Class     string
	Message   string
}

func (e *ContainerError) Error() string {
	return fmt.Sprintf("yarn: container %s: %s: %s", e.Container, e.Class, e.Message)
}

func containerErrors(failed []*pb.ContainerExceptionMapProto) error {
	if len(failed) == 0 {
		return nil
	}
	f := failed[0]
	return &ContainerError{Container: ContainerIDFromProto(f.GetContainerId()), Class: f.GetException().GetClassName(), Message: f.GetException().GetMessage()}
}

// StartContainer starts an allocated container with a launch context.
func (n *NMClient) StartContainer(ctx context.Context, c *pb.ContainerProto, launch *pb.ContainerLaunchContextProto) error {
	req := &pb.StartContainersRequestProto{StartContainerRequest: []*pb.StartContainerRequestProto{{
		ContainerLaunchContext: launch,
		ContainerToken:         c.GetContainerToken(),
	}}}
	var resp pb.StartContainersResponseProto
	if err := n.conn(c.GetNodeId()).Call(ctx, "startContainers", req, &resp); err != nil {
		return n.callErr("startContainers", NodeAddress(c.GetNodeId()), err)
	}
	return containerErrors(resp.GetFailedRequests())
}

// StopContainer stops a container on its node.
func (n *NMClient) StopContainer(ctx context.Context, node *pb.NodeIdProto, id ContainerID) error {
	req := &pb.StopContainersRequestProto{ContainerId: []*pb.ContainerIdProto{id.Proto()}}
	var resp pb.StopContainersResponseProto
	if err := n.conn(node).Call(ctx, "stopContainers", req, &resp); err != nil {
		return n.callErr("stopContainers", NodeAddress(node), err)
	}
	return containerErrors(resp.GetFailedRequests())
}

// ContainerStatuses returns the statuses of containers on one node.
func (n *NMClient) ContainerStatuses(ctx context.Context, node *pb.NodeIdProto, ids ...ContainerID) ([]*pb.ContainerStatusProto, error) {
	req := &pb.GetContainerStatusesRequestProto{}
	for _, id := range ids {
		req.ContainerId = append(req.ContainerId, id.Proto())
	}
	var resp pb.GetContainerStatusesResponseProto
	if err := n.conn(node).Call(ctx, "getContainerStatuses", req, &resp); err != nil {
		return nil, n.callErr("getContainerStatuses", NodeAddress(node), err)
	}
	return resp.GetStatus(), containerErrors(resp.GetFailedRequests())
}
