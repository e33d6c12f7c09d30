package yarntest

import (
	"net"

	"github.com/dagflow/dagflow/internal/hadooprpc"
)

// server is a stoppable loopback server (hadooprpc.StoppableServer).
type server = hadooprpc.StoppableServer

func newServer(serve func(net.Conn)) *server { return hadooprpc.NewStoppableServer(serve) }
