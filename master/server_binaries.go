package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/limits"
	"github.com/dagflow/dagflow/internal/pathpolicy"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

func (s *Server) binaryPath(sha string) (string, error) {
	if err := pathpolicy.SHA256Hex(sha); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "bad binary hash %q: %v", sha, err)
	}
	return filepath.Join(s.cfg.Dir, "binaries", sha), nil
}

// HasBinary implements rpcpb.MasterServer.
func (s *Server) HasBinary(_ context.Context, ref *rpcpb.BinaryRef) (*rpcpb.HasBinaryResponse, error) {
	p, err := s.binaryPath(ref.Sha256)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if ok, ferr := s.fetchBinary(context.Background(), p, ref.Sha256); ferr != nil {
			s.log.Warn("fetch binary from storage dir", "sha256", ref.Sha256, "err", ferr)
		} else if ok {
			st, err = os.Stat(p)
		}
	}
	return &rpcpb.HasBinaryResponse{Present: err == nil && st.Size() == ref.Size}, nil
}

// UploadBinary implements rpcpb.MasterServer.
func (s *Server) UploadBinary(stream rpcpb.Master_UploadBinaryServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	ref := first.Ref
	if ref == nil {
		return status.Error(codes.InvalidArgument, "upload: first chunk lacks the binary reference")
	}
	path, err := s.binaryPath(ref.Sha256)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n := int64(0)
	limit := limits.NewUpload(s.cfg.MaxUploadBytes)
	if s.cfg.MaxUploadBytes > 0 && ref.Size > s.cfg.MaxUploadBytes {
		tmp.Close()
		return status.Errorf(codes.ResourceExhausted, "upload: binary of %d bytes is larger than the master's limit of %d bytes (--max-upload-bytes)", ref.Size, s.cfg.MaxUploadBytes)
	}
	write := func(b []byte) error {
		if err := limit.Add(len(b)); err != nil {
			return status.Errorf(codes.ResourceExhausted, "upload: %v", err)
		}
		h.Write(b)
		n += int64(len(b))
		_, err := tmp.Write(b)
		return err
	}
	if err := write(first.Data); err != nil {
		tmp.Close()
		return err
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tmp.Close()
			return err
		}
		if err := write(c.Data); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ref.Sha256 || n != ref.Size {
		return status.Errorf(codes.DataLoss, "upload: checksum mismatch: got %s (%d bytes), want %s (%d bytes)", got, n, ref.Sha256, ref.Size)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if err := s.storeBinary(stream.Context(), path, ref.Sha256); err != nil {
		return status.Errorf(codes.Unavailable, "upload: %v", err)
	}
	return stream.SendAndClose(ref)
}

// GetBinary implements rpcpb.MasterServer.
func (s *Server) GetBinary(ref *rpcpb.BinaryRef, stream rpcpb.Master_GetBinaryServer) error {
	path, err := s.binaryPath(ref.Sha256)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return status.Errorf(codes.NotFound, "binary %s: %v", ref.Sha256, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&rpcpb.BinaryChunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
