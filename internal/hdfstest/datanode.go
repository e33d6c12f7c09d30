package hdfstest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DataTransferProtocol as spoken by HDFS clients:
//
//	request: int16 version(0x1c) op(byte) varint-delimited Op*Proto
//	reply:   varint-delimited BlockOpResponseProto
//	packet:  uint32 len(4 + checksums + data) uint16 headerLen
//	         PacketHeaderProto checksums(4 bytes per chunk) data
//
// Writes are acked packet by packet with PipelineAckProto; a write ends
// with an empty packet marked lastPacketInBlock. Reads stream packets
// from a chunk-aligned offset and end with an empty last packet.
const (
	transferVersion = 0x1c
	opWriteBlock    = 0x50
	opReadBlock     = 0x51
	chunkSize       = 512
	readPacketSize  = 64 << 10 // data bytes per packet sent on reads
	maxPacket       = 16 << 20
	blockPool       = "BP-hdfstest"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// replica is a block's data on the DataNode.
type replica struct {
	data      []byte
	finalized bool
}

// dataNode stores replicas in memory.
type dataNode struct {
	srv *server

	mu        sync.Mutex
	replicas  map[uint64]*replica
	killAfter int           // data packets until the DataNode dies; 0 = never
	killed    chan struct{} // closed when killAfter fires
	packets   int64         // data packets received
}

func newDataNode() *dataNode {
	dn := &dataNode{replicas: make(map[uint64]*replica)}
	dn.srv = newServer(dn.serve)
	return dn
}

// info is the DatanodeInfoProto the NameNode hands out for every block.
func (dn *dataNode) info() fields {
	host, port, _ := net.SplitHostPort(dn.srv.Addr())
	p, _ := strconv.Atoi(port)
	return fields{"id": fields{
		"ipAddr": host, "hostName": "localhost", "datanodeUuid": "hdfstest-dn-1",
		"xferPort": uint32(p), "infoPort": uint32(0), "ipcPort": uint32(0),
	}}
}

func (dn *dataNode) drop(id uint64) {
	dn.mu.Lock()
	delete(dn.replicas, id)
	dn.mu.Unlock()
}

func (dn *dataNode) serve(conn net.Conn) {
	r := bufio.NewReader(conn)
	var head [3]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return
	}
	if binary.BigEndian.Uint16(head[:2]) != transferVersion {
		dn.reply(conn, fields{"status": "ERROR", "message": fmt.Sprintf("unsupported data transfer version %d", binary.BigEndian.Uint16(head[:2]))})
		return
	}
	switch head[2] {
	case opWriteBlock:
		op := newMsg("hadoop.hdfs.OpWriteBlockProto")
		if readDelimited(r, op) == nil {
			dn.writeBlock(conn, r, op)
		}
	case opReadBlock:
		op := newMsg("hadoop.hdfs.OpReadBlockProto")
		if readDelimited(r, op) == nil {
			dn.readBlock(conn, op)
		}
	default:
		dn.reply(conn, fields{"status": "ERROR_UNSUPPORTED", "message": fmt.Sprintf("op 0x%x is not supported by the hdfstest DataNode", head[2])})
	}
}

// reply sends a BlockOpResponseProto. firstBadLink is always set: the
// client reads at least five bytes for the reply and a shorter message
// would make it wait for bytes that never come.
func (dn *dataNode) reply(w io.Writer, f fields) error {
	f["firstBadLink"] = ""
	b, err := appendDelimited(nil, build("hadoop.hdfs.BlockOpResponseProto", f))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func blockID(op protoreflect.Message) uint64 {
	return u64(sub(sub(sub(op, "header"), "baseHeader"), "block"), "blockId")
}

func (dn *dataNode) writeBlock(conn net.Conn, r *bufio.Reader, op protoreflect.Message) {
	id := blockID(op)
	stage := enum(op, "stage")
	sum := sub(op, "requestedChecksum")
	bpc := int(u64(sum, "bytesPerChecksum"))
	var table *crc32.Table
	switch enum(sum, "type") {
	case "CHECKSUM_CRC32C":
		table = castagnoli
	case "CHECKSUM_CRC32":
		table = crc32.IEEETable
	case "CHECKSUM_NULL":
	default:
		dn.reply(conn, fields{"status": "ERROR_UNSUPPORTED", "message": "unsupported checksum type"})
		return
	}
	if table != nil && bpc <= 0 {
		dn.reply(conn, fields{"status": "ERROR_INVALID", "message": "bytesPerChecksum must be positive"})
		return
	}

	dn.mu.Lock()
	rep := dn.replicas[id]
	switch stage {
	case "PIPELINE_SETUP_CREATE":
		rep = &replica{}
		dn.replicas[id] = rep
	case "PIPELINE_SETUP_APPEND":
		if rep == nil || !rep.finalized {
			dn.mu.Unlock()
			dn.reply(conn, fields{"status": "ERROR", "message": fmt.Sprintf("cannot append to block %d: no finalized replica", id)})
			return
		}
		rep.finalized = false
	default:
		dn.mu.Unlock()
		dn.reply(conn, fields{"status": "ERROR_UNSUPPORTED", "message": fmt.Sprintf("block construction stage %s is not supported", stage)})
		return
	}
	dn.mu.Unlock()
	if dn.reply(conn, fields{"status": "SUCCESS"}) != nil {
		return
	}

	for {
		header, sums, data, err := readPacket(r, bpc, table != nil)
		if err != nil {
			return
		}
		seqno := i64(header, "seqno")
		status := "SUCCESS"
		if seqno >= 0 {
			if table != nil {
				for i := 0; i*bpc < len(data); i++ {
					chunk := data[i*bpc : min((i+1)*bpc, len(data))]
					if crc32.Checksum(chunk, table) != binary.BigEndian.Uint32(sums[4*i:]) {
						status = "ERROR_CHECKSUM"
					}
				}
			}
			dn.mu.Lock()
			if status == "SUCCESS" && i64(header, "offsetInBlock") != int64(len(rep.data)) {
				status = "ERROR_INVALID"
			}
			if status == "SUCCESS" {
				rep.data = append(rep.data, data...)
				if boolOf(header, "lastPacketInBlock") {
					rep.finalized = true
				}
			}
			kill := false
			if len(data) > 0 {
				dn.packets++
				if dn.killAfter > 0 {
					dn.killAfter--
					kill = dn.killAfter == 0
				}
			}
			dn.mu.Unlock()
			if kill {
				// Crash: no ack, every connection and the listener closed.
				dn.srv.Stop()
				dn.mu.Lock()
				close(dn.killed)
				dn.mu.Unlock()
				return
			}
		}
		ack, err := appendDelimited(nil, build("hadoop.hdfs.PipelineAckProto", fields{
			"seqno": seqno, "reply": []any{status},
		}))
		if err != nil {
			return
		}
		if _, err := conn.Write(ack); err != nil || status != "SUCCESS" || boolOf(header, "lastPacketInBlock") {
			return
		}
	}
}

// readPacket reads one data packet of a write.
func readPacket(r io.Reader, bpc int, checksums bool) (header protoreflect.Message, sums, data []byte, err error) {
	var pre [6]byte
	if _, err = io.ReadFull(r, pre[:]); err != nil {
		return nil, nil, nil, err
	}
	payload := int(binary.BigEndian.Uint32(pre[:4]))
	hb := make([]byte, binary.BigEndian.Uint16(pre[4:]))
	if _, err = io.ReadFull(r, hb); err != nil {
		return nil, nil, nil, err
	}
	header = newMsg("hadoop.hdfs.PacketHeaderProto")
	if err = proto.Unmarshal(hb, header.Interface()); err != nil {
		return nil, nil, nil, err
	}
	dataLen := int(i64(header, "dataLen"))
	sumLen := 0
	if checksums && dataLen > 0 {
		sumLen = 4 * ((dataLen + bpc - 1) / bpc)
	}
	if payload != 4+sumLen+dataLen || payload > maxPacket {
		return nil, nil, nil, fmt.Errorf("bad packet: length %d for %d data bytes", payload, dataLen)
	}
	buf := make([]byte, sumLen+dataLen)
	if _, err = io.ReadFull(r, buf); err != nil {
		return nil, nil, nil, err
	}
	return header, buf[:sumLen], buf[sumLen:], nil
}

func (dn *dataNode) readBlock(conn net.Conn, op protoreflect.Message) {
	id := blockID(op)
	offset, length := int64(u64(op, "offset")), int64(u64(op, "len"))
	dn.mu.Lock()
	var data []byte
	rep := dn.replicas[id]
	if rep != nil {
		data = rep.data // appends never modify bytes already written
	}
	dn.mu.Unlock()
	if rep == nil {
		dn.reply(conn, fields{"status": "ERROR", "message": fmt.Sprintf("Replica not found for %s:blk_%d", blockPool, id)})
		return
	}
	if offset < 0 || offset > int64(len(data)) {
		dn.reply(conn, fields{"status": "ERROR_INVALID", "message": fmt.Sprintf("offset %d is beyond the %d bytes of blk_%d", offset, len(data), id)})
		return
	}
	start := offset - offset%chunkSize
	end := min(offset+length, int64(len(data)))
	if err := dn.reply(conn, fields{"status": "SUCCESS", "readOpChecksumInfo": fields{
		"checksum":    fields{"type": "CHECKSUM_CRC32C", "bytesPerChecksum": uint32(chunkSize)},
		"chunkOffset": uint64(start),
	}}); err != nil {
		return
	}
	w := bufio.NewWriterSize(conn, 128<<10)
	seqno := int64(0)
	for off := start; ; seqno++ {
		n := min(int64(readPacketSize), end-off)
		if err := writePacket(w, off, seqno, data[off:off+n], n == 0); err != nil {
			return
		}
		if n == 0 {
			break
		}
		off += n
	}
	if w.Flush() != nil {
		return
	}
	// Java clients send a ClientReadStatusProto; wait briefly for it (or
	// for the client to hang up) before closing.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, conn)
}

func writePacket(w io.Writer, offset, seqno int64, data []byte, last bool) error {
	hb, err := proto.Marshal(build("hadoop.hdfs.PacketHeaderProto", fields{
		"offsetInBlock": offset, "seqno": seqno, "lastPacketInBlock": last, "dataLen": int32(len(data)),
	}).Interface())
	if err != nil {
		return err
	}
	chunks := (len(data) + chunkSize - 1) / chunkSize
	b := make([]byte, 6, 6+len(hb)+4*chunks)
	binary.BigEndian.PutUint32(b, uint32(4+4*chunks+len(data)))
	binary.BigEndian.PutUint16(b[4:], uint16(len(hb)))
	b = append(b, hb...)
	for i := 0; i < chunks; i++ {
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(data[i*chunkSize:min((i+1)*chunkSize, len(data))], castagnoli))
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
