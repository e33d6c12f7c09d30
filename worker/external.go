package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/shuffle"
)

// ExternalWriter is implemented by the writers of a shuffle service that
// hands committed partitions to an external shuffle service. After a
// successful Commit, ExternalLocation returns the location consumers read
// the partition from; "" means the partition stayed local.
type ExternalWriter interface {
	shuffle.Writer
	ExternalLocation() string
}

// adoptTimeout bounds the retries of one Adopt call (a restarting daemon
// has this long to come back).
const adoptTimeout = 30 * time.Second

// externalShuffle is an executor's shuffle service when its job stores
// blocking partitions in the host's shuffle daemon: pipelined partitions
// stay in the executor's own Local; blocking ones are written by a staging
// Local inside the daemon's staging directory and, on Commit, adopted by
// the daemon, which serves them from then on.
type externalShuffle struct {
	*shuffle.Local                // pipelined partitions, reads of own partitions
	staging        *shuffle.Local // blocking partitions until adopted
	stagingDir     string
	addr           string // the daemon's gRPC address: the partitions' location
	conn           *grpc.ClientConn
	daemon         rpcpb.ShuffleDaemonClient
	log            *slog.Logger
}

// newExternalShuffle sets up the staging directory of this executor under
// the daemon's staging directory (dir/staging, see shuffle/daemon).
func newExternalShuffle(local *shuffle.Local, addr, dir string, node *secure.Node, log *slog.Logger) (*externalShuffle, error) {
	root := filepath.Join(dir, shuffle.DaemonStagingDir)
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("executor: shuffle daemon staging directory %s: %v (is the shuffle daemon at %s running with --dir %s?)", root, err, addr, dir)
	}
	sdir, err := os.MkdirTemp(root, "executor-")
	if err != nil {
		return nil, fmt.Errorf("executor: create staging directory in %s: %w", root, err)
	}
	staging, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: sdir, Logger: log})
	if err != nil {
		os.Remove(sdir)
		return nil, err
	}
	conn, err := grpc.NewClient(addr, node.DialOption())
	if err != nil {
		staging.Close()
		os.Remove(sdir)
		return nil, fmt.Errorf("executor: shuffle daemon address %q: %w", addr, err)
	}
	return &externalShuffle{Local: local, staging: staging, stagingDir: sdir, addr: addr, conn: conn,
		daemon: rpcpb.NewShuffleDaemonClient(conn), log: log}, nil
}

// CreateWriter implements shuffle.Service: blocking partitions are staged
// for the daemon, pipelined ones stay local.
func (s *externalShuffle) CreateWriter(ctx context.Context, id shuffle.PartitionID, opts shuffle.WriterOptions) (shuffle.Writer, error) {
	if opts.Mode != shuffle.Blocking {
		return s.Local.CreateWriter(ctx, id, opts)
	}
	w, err := s.staging.CreateWriter(ctx, id, opts)
	if err != nil {
		return nil, err
	}
	return &adoptWriter{Writer: w, s: s, id: id}, nil
}

// Release implements shuffle.Service. The daemon's copies are released by
// the master when the job ends.
func (s *externalShuffle) Release(ctx context.Context, job string) error {
	return errors.Join(s.Local.Release(ctx, job), s.staging.Release(ctx, job))
}

// Close implements shuffle.Service.
func (s *externalShuffle) Close() error {
	err := errors.Join(s.Local.Close(), s.staging.Close(), s.conn.Close())
	if rerr := os.RemoveAll(s.stagingDir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// adopt asks the daemon to adopt a committed staged partition, retrying
// while the daemon is unreachable or busy with the same partition.
func (s *externalShuffle) adopt(ctx context.Context, id shuffle.PartitionID) error {
	data, index := s.staging.PartitionFiles(id)
	req := &rpcpb.AdoptRequest{
		Partition: &rpcpb.ShufflePartition{Job: id.Job, Result: id.Result, Producer: int32(id.Producer), Attempt: int32(id.Attempt)},
		DataPath:  data, IndexPath: index,
	}
	ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
	defer cancel()
	var err error
	for try := 0; ; try++ {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = s.daemon.Adopt(actx, req, grpc.WaitForReady(true))
		acancel()
		switch status.Code(err) {
		case codes.OK:
			return nil
		case codes.Unavailable, codes.AlreadyExists, codes.DeadlineExceeded, codes.Aborted:
		default:
			return fmt.Errorf("shuffle daemon %s refused partition %s (%s): %s", s.addr, id, data, status.Convert(err).Message())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("shuffle daemon %s: adopt partition %s (%s): %w", s.addr, id, data, err)
		}
		s.log.Warn("adopt partition: retrying", "partition", id.String(), "daemon", s.addr, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(min(try+1, 10)) * 100 * time.Millisecond):
		}
	}
}

// adoptWriter is a staged blocking partition writer whose Commit ends
// with the daemon's adoption.
type adoptWriter struct {
	shuffle.Writer
	s       *externalShuffle
	id      shuffle.PartitionID
	adopted bool
}

// Commit implements shuffle.Writer: the partition is committed in the
// staging directory, then adopted by the daemon.
func (w *adoptWriter) Commit(ctx context.Context) error {
	if err := w.Writer.Commit(ctx); err != nil {
		return err
	}
	if err := w.s.adopt(ctx, w.id); err != nil {
		return err
	}
	w.adopted = true
	return nil
}

// ExternalLocation implements ExternalWriter.
func (w *adoptWriter) ExternalLocation() string {
	if w.adopted {
		return w.s.addr
	}
	return ""
}

// hostLocal reads the partitions of the host's shuffle daemon from its
// files (shuffle.FileView) and falls back to the daemon's read service
// when the files cannot be opened for lack of permission.
type hostLocal struct {
	*shuffle.FileView
	daemon func() (shuffle.Service, error)
}

// OpenReader implements shuffle.Service.
func (h hostLocal) OpenReader(ctx context.Context, id shuffle.PartitionID, from, to int) (shuffle.Reader, error) {
	r, err := h.FileView.OpenReader(ctx, id, from, to)
	if errors.Is(err, fs.ErrPermission) {
		svc, rerr := h.daemon()
		if rerr != nil {
			return nil, rerr
		}
		return svc.OpenReader(ctx, id, from, to)
	}
	return r, err
}
