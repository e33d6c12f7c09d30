package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/pathpolicy"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// chunkStream is an UploadBinary stream that receives given chunks.
type chunkStream struct {
	grpc.ServerStream
	chunks []*rpcpb.BinaryChunk
	sent   *rpcpb.BinaryRef
}

func (s *chunkStream) Context() context.Context { return context.Background() }

func (s *chunkStream) Recv() (*rpcpb.BinaryChunk, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *chunkStream) SendAndClose(r *rpcpb.BinaryRef) error {
	s.sent = r
	return nil
}

// uploadMessages splits b into messages, each a 1-byte length and that
// many bytes: the chunk protobufs a client sends.
func uploadMessages(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := int(b[0])
		b = b[1:]
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// encodeUpload is the inverse of uploadMessages for the seeds.
func encodeUpload(f *testing.F, chunks ...*rpcpb.BinaryChunk) []byte {
	var out []byte
	for _, c := range chunks {
		b, err := proto.Marshal(c)
		if err != nil || len(b) > 255 {
			f.Fatalf("seed chunk: %d bytes, %v", len(b), err)
		}
		out = append(out, byte(len(b)))
		out = append(out, b...)
	}
	return out
}

// FuzzUploadBinary feeds UploadBinary the chunk messages of an untrusted
// client (a binary every worker will execute): whatever they hold, it
// never panics, never writes outside binaries/ or leaves a temporary
// file, stores a binary only under the SHA-256 and size of the bytes
// received, and never accepts more than --max-upload-bytes.
func FuzzUploadBinary(f *testing.F) {
	const max = 64
	data := []byte("#!/bin/sh\necho hello\n")
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	ref := &rpcpb.BinaryRef{Sha256: sha, Size: int64(len(data))}
	f.Add(encodeUpload(f, &rpcpb.BinaryChunk{Ref: ref, Data: data[:5]}, &rpcpb.BinaryChunk{Data: data[5:]}))
	f.Add(encodeUpload(f, &rpcpb.BinaryChunk{Ref: ref}, &rpcpb.BinaryChunk{Data: data}, &rpcpb.BinaryChunk{Data: []byte("x")}))
	f.Add(encodeUpload(f, &rpcpb.BinaryChunk{Ref: &rpcpb.BinaryRef{Sha256: "../../etc/passwd", Size: 3}, Data: []byte("abc")}))
	f.Add(encodeUpload(f, &rpcpb.BinaryChunk{Ref: &rpcpb.BinaryRef{Sha256: sha, Size: 1 << 40}}))
	f.Add(encodeUpload(f, &rpcpb.BinaryChunk{Data: data}))
	f.Add([]byte{3, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var chunks []*rpcpb.BinaryChunk
		for _, m := range uploadMessages(b) {
			c := &rpcpb.BinaryChunk{}
			if proto.Unmarshal(m, c) != nil {
				return // gRPC would refuse the message before the handler
			}
			chunks = append(chunks, c)
		}
		if len(chunks) == 0 {
			return // gRPC: the stream ends before a first message
		}
		dir := t.TempDir()
		bins := filepath.Join(dir, "binaries")
		if err := os.Mkdir(bins, 0o755); err != nil {
			t.Fatal(err)
		}
		var received []byte
		for _, c := range chunks {
			received = append(received, c.Data...)
		}
		first := chunks[0].GetRef()
		s := &Server{cfg: ServerConfig{Dir: dir, MaxUploadBytes: max}}
		stream := &chunkStream{chunks: chunks}
		err := s.UploadBinary(stream)

		entries, rerr := os.ReadDir(bins)
		if rerr != nil {
			t.Fatal(rerr)
		}
		top, rerr := os.ReadDir(dir)
		if rerr != nil || len(top) != 1 {
			t.Fatalf("UploadBinary wrote outside binaries/: %v %v", top, rerr)
		}
		if err != nil {
			if stream.sent != nil || len(entries) != 0 {
				t.Fatalf("failed upload (%v) answered %v and left %v", err, stream.sent, entries)
			}
			if first != nil && pathpolicy.SHA256Hex(first.Sha256) == nil && len(received) > max && status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("upload of %d bytes over the limit failed with %v, want ResourceExhausted", len(received), err)
			}
			return
		}
		if len(received) > max {
			t.Fatalf("accepted %d bytes over the limit of %d", len(received), max)
		}
		got := sha256.Sum256(received)
		if len(entries) != 1 || entries[0].Name() != hex.EncodeToString(got[:]) || first.Sha256 != entries[0].Name() ||
			first.Size != int64(len(received)) || stream.sent == nil || stream.sent.Sha256 != first.Sha256 {
			t.Fatalf("accepted %d bytes with ref %v: stored %v, answered %v", len(received), first, entries, stream.sent)
		}
		stored, rerr := os.ReadFile(filepath.Join(bins, entries[0].Name()))
		if rerr != nil || string(stored) != string(received) {
			t.Fatalf("stored binary differs from the bytes received: %v", rerr)
		}
	})
}
