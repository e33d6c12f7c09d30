package hdfstest

import (
	"path"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// handler serves one NameNode method: it reads the request and returns the
// response's fields.
type handler func(user string, req protoreflect.Message) (fields, error)

// inode is a file or directory of the namespace.
type inode struct {
	id       uint64
	name     string
	dir      bool
	parent   *inode
	children map[string]*inode // directories
	mtime    int64             // milliseconds since the epoch
	atime    int64
	perm     uint32
	owner    string

	// Files.
	blocks      []*block
	blockSize   uint64
	replication uint32
	writer      string // client name holding the lease while under construction
}

type block struct {
	id, genStamp, numBytes uint64
}

func (n *inode) length() uint64 {
	var l uint64
	for _, b := range n.blocks {
		l += b.numBytes
	}
	return l
}

// fullPath returns the absolute path of n.
func (n *inode) fullPath() string {
	if n.parent == nil {
		return "/"
	}
	return path.Join(n.parent.fullPath(), n.name)
}

func (c *Cluster) initHandlers() {
	c.handlers = map[string]handler{
		"getServerDefaults":      c.getServerDefaults,
		"getFileInfo":            c.getFileInfo,
		"getListing":             c.getListing,
		"getBlockLocations":      c.getBlockLocations,
		"mkdirs":                 c.mkdirs,
		"create":                 c.create,
		"addBlock":               c.addBlock,
		"updateBlockForPipeline": c.updateBlockForPipeline,
		"complete":               c.complete,
		"rename2":                c.rename2,
		"delete":                 c.delete,
		"renewLease":             func(string, protoreflect.Message) (fields, error) { return fields{}, nil },
	}
}

func now() int64 { return time.Now().UnixMilli() }

// checkPath rejects paths a real NameNode rejects: relative, unclean or
// with ':' in a component.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.Contains(p, ":") {
		return throw(exInvalidPath, "Invalid path name %s", p)
	}
	return nil
}

// access checks the fault-injected permission rules for user on paths.
// Callers hold c.mu.
func (c *Cluster) access(user string, paths ...string) error {
	for _, p := range paths {
		if err := checkPath(p); err != nil {
			return err
		}
		for _, d := range c.denied {
			if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
				return throw(exAccess, "Permission denied: user=%s, access=ALL, inode=%q", user, p)
			}
		}
	}
	return nil
}

// writable additionally rejects mutations in safe mode.
func (c *Cluster) writable(op, user string, paths ...string) error {
	if c.safeMode {
		return throw(exSafeMode, "Cannot %s %s. Name node is in safe mode.\nIt was turned on manually. Use \"hdfs dfsadmin -safemode leave\" to turn safe mode off.", op, paths[0])
	}
	return c.access(user, paths...)
}

// lookup returns the inode at p or nil. A file in the middle of p makes
// p missing, as on a real NameNode.
func (c *Cluster) lookup(p string) *inode {
	n := c.root
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" {
			continue
		}
		if !n.dir {
			return nil
		}
		if n = n.children[name]; n == nil {
			return nil
		}
	}
	return n
}

// parentDir returns the directory that holds p, failing like a NameNode
// when it is missing or a file.
func (c *Cluster) parentDir(p, what string) (*inode, error) {
	dir := path.Dir(p)
	parent := c.lookup(dir)
	if parent == nil {
		return nil, throw(exFileNotFound, "%s parent %s not found.", what, dir)
	}
	if !parent.dir {
		return nil, throw(exParentNotDir, "%s parent %s is a file.", what, dir)
	}
	return parent, nil
}

func (c *Cluster) newInode(parent *inode, name string, dir bool, owner string, perm uint32) *inode {
	c.nextID++
	t := now()
	n := &inode{id: c.nextID, name: name, dir: dir, parent: parent, mtime: t, atime: t, perm: perm, owner: owner}
	if dir {
		n.children = make(map[string]*inode)
	}
	parent.children[name] = n
	parent.mtime = t
	return n
}

func (c *Cluster) detach(n *inode) {
	delete(n.parent.children, n.name)
	n.parent.mtime = now()
	n.parent = nil
}

// status describes n as an HdfsFileStatusProto; name is the local name
// (empty for getFileInfo, as a NameNode does).
func (c *Cluster) status(n *inode, name string) fields {
	st := fields{
		"fileType":          "IS_FILE",
		"path":              []byte(name),
		"length":            n.length(),
		"permission":        fields{"perm": n.perm},
		"owner":             n.owner,
		"group":             "supergroup",
		"modification_time": uint64(n.mtime),
		"access_time":       uint64(n.atime),
		"fileId":            n.id,
	}
	if n.dir {
		st["fileType"] = "IS_DIR"
		st["length"] = uint64(0)
		st["childrenNum"] = int32(len(n.children))
	} else {
		st["block_replication"] = n.replication
		st["blocksize"] = n.blockSize
	}
	return st
}

func (c *Cluster) getServerDefaults(string, protoreflect.Message) (fields, error) {
	return fields{"serverDefaults": fields{
		"blockSize":        uint64(c.opts.BlockSize),
		"bytesPerChecksum": uint32(chunkSize),
		"writePacketSize":  uint32(64 << 10),
		"replication":      uint32(1),
		"fileBufferSize":   uint32(4096),
		"checksumType":     "CHECKSUM_CRC32C",
	}}, nil
}

func (c *Cluster) getFileInfo(user string, req protoreflect.Message) (fields, error) {
	src := str(req, "src")
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.access(user, src); err != nil {
		return nil, err
	}
	n := c.lookup(src)
	if n == nil {
		return fields{}, nil // a missing path is an empty reply, not an exception
	}
	return fields{"fs": c.status(n, "")}, nil
}

func (c *Cluster) getListing(user string, req protoreflect.Message) (fields, error) {
	src, after := str(req, "src"), string(bytesOf(req, "startAfter"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.access(user, src); err != nil {
		return nil, err
	}
	n := c.lookup(src)
	if n == nil {
		return fields{}, nil
	}
	if !n.dir {
		return fields{"dirList": fields{"partialListing": []any{c.status(n, "")}, "remainingEntries": uint32(0)}}, nil
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		if name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names) // byte order, like HDFS
	var list []any
	for _, name := range names[:min(len(names), c.opts.ListLimit)] {
		list = append(list, c.status(n.children[name], name))
	}
	return fields{"dirList": fields{
		"partialListing":   list,
		"remainingEntries": uint32(len(names) - len(list)),
	}}, nil
}

func (c *Cluster) locatedBlock(b *block, offset uint64) fields {
	return fields{
		"b": fields{
			"poolId": blockPool, "blockId": b.id, "generationStamp": b.genStamp, "numBytes": b.numBytes,
		},
		"offset":       offset,
		"locs":         []any{c.dn.info()},
		"corrupt":      false,
		"blockToken":   fields{"identifier": []byte{}, "password": []byte{}, "kind": "", "service": ""},
		"storageTypes": []any{"DISK"},
		"storageIDs":   []any{"DS-hdfstest"},
	}
}

func (c *Cluster) getBlockLocations(user string, req protoreflect.Message) (fields, error) {
	src := str(req, "src")
	from, length := u64(req, "offset"), u64(req, "length")
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.access(user, src); err != nil {
		return nil, err
	}
	n := c.lookup(src)
	if n == nil {
		return nil, throw(exFileNotFound, "File does not exist: %s", src)
	}
	if n.dir {
		return nil, throw(exFileNotFound, "Path is not a file: %s", src)
	}
	var blocks []any
	var off uint64
	for _, b := range n.blocks {
		if off+b.numBytes > from && off < from+length {
			blocks = append(blocks, c.locatedBlock(b, off))
		}
		off += b.numBytes
	}
	return fields{"locations": fields{
		"fileLength":          off,
		"blocks":              blocks,
		"underConstruction":   n.writer != "",
		"isLastBlockComplete": n.writer == "",
	}}, nil
}

func (c *Cluster) mkdirs(user string, req protoreflect.Message) (fields, error) {
	src, parents := str(req, "src"), boolOf(req, "createParent")
	perm := uint32(u64(sub(req, "masked"), "perm"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable("create directory", user, src); err != nil {
		return nil, err
	}
	return fields{"result": true}, c.mkdirsLocked(user, src, perm, parents)
}

func (c *Cluster) mkdirsLocked(user, p string, perm uint32, parents bool) error {
	n := c.root
	elems := strings.Split(strings.Trim(p, "/"), "/")
	for i, name := range elems {
		if name == "" {
			continue
		}
		next := n.children[name]
		switch {
		case next == nil && (parents || i == len(elems)-1):
			next = c.newInode(n, name, true, user, perm)
		case next == nil:
			return throw(exFileNotFound, "Parent directory doesn't exist: %s", n.fullPath())
		case !next.dir && i == len(elems)-1:
			return throw(exExists, "Path is not a directory: %s", p)
		case !next.dir:
			return throw(exParentNotDir, "Parent path is not a directory: %s", next.fullPath())
		}
		n = next
	}
	return nil
}

// CreateFlag bits of the create call.
const (
	flagCreate    = 0x01
	flagOverwrite = 0x02
)

func (c *Cluster) create(user string, req protoreflect.Message) (fields, error) {
	src, client := str(req, "src"), str(req, "clientName")
	flag, blockSize := u64(req, "createFlag"), u64(req, "blockSize")
	perm := uint32(u64(sub(req, "masked"), "perm"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable("create file", user, src); err != nil {
		return nil, err
	}
	if blockSize == 0 || blockSize%chunkSize != 0 {
		return nil, throw(exIO, "Invalid values: dfs.bytes-per-checksum (=%d) must divide block size (=%d).", chunkSize, blockSize)
	}
	if old := c.lookup(src); old != nil {
		switch {
		case old.dir:
			return nil, throw(exExists, "%s already exists as a directory", src)
		case old.writer != "" && old.writer != client:
			return nil, throw(exBeingCreated, "Failed to CREATE_FILE %s for %s because this file is already being created by %s", src, client, old.writer)
		case flag&flagOverwrite == 0:
			return nil, throw(exExists, "%s for client 127.0.0.1 already exists", src)
		}
		c.dropBlocks(old)
		c.detach(old)
	}
	parent, err := c.parentDir(src, "create")
	if err != nil && boolOf(req, "createParent") {
		if err = c.mkdirsLocked(user, path.Dir(src), 0o755, true); err == nil {
			parent, err = c.parentDir(src, "create")
		}
	}
	if err != nil {
		return nil, err
	}
	n := c.newInode(parent, path.Base(src), false, user, perm)
	n.blockSize, n.replication, n.writer = blockSize, uint32(u64(req, "replication")), client
	c.open[n.id] = n
	return fields{"fs": c.status(n, "")}, nil
}

// leased returns the file under construction that a block call names
// (by file id, so that renames while writing are fine), checking the lease.
func (c *Cluster) leased(req protoreflect.Message) (*inode, error) {
	src, client := str(req, "src"), str(req, "clientName")
	n := c.open[u64(req, "fileId")]
	if n == nil {
		n = c.lookup(src)
	}
	if n == nil || n.dir || n.parent == nil {
		return nil, throw(exFileNotFound, "File does not exist: %s [Lease.  Holder: %s]", src, client)
	}
	if n.writer != client {
		return nil, throw(exLease, "No lease on %s: File is not open for writing. Holder %s does not have any open files.", src, client)
	}
	return n, nil
}

// commitLast records the length the client reports for the file's last
// block (the "previous" of addBlock, the "last" of complete).
func commitLast(n *inode, eb protoreflect.Message) error {
	if eb == nil {
		return nil
	}
	if len(n.blocks) == 0 || n.blocks[len(n.blocks)-1].id != u64(eb, "blockId") {
		return throw(exIO, "block %d is not the last block of %s", u64(eb, "blockId"), n.fullPath())
	}
	n.blocks[len(n.blocks)-1].numBytes = u64(eb, "numBytes")
	return nil
}

func (c *Cluster) addBlock(_ string, req protoreflect.Message) (fields, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.safeMode {
		return nil, throw(exSafeMode, "Cannot add block to %s. Name node is in safe mode.", str(req, "src"))
	}
	n, err := c.leased(req)
	if err != nil {
		return nil, err
	}
	if err := commitLast(n, sub(req, "previous")); err != nil {
		return nil, err
	}
	off := n.length()
	c.nextBlock++
	b := &block{id: c.nextBlock, genStamp: 1001}
	n.blocks = append(n.blocks, b)
	return fields{"block": c.locatedBlock(b, off)}, nil
}

func (c *Cluster) updateBlockForPipeline(_ string, req protoreflect.Message) (fields, error) {
	eb := sub(req, "block")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.open {
		var off uint64
		for _, b := range n.blocks {
			if b.id == u64(eb, "blockId") {
				// The client calls this after every block it finishes; the
				// stand-in keeps the generation stamp (no pipeline recovery).
				return fields{"block": c.locatedBlock(b, off)}, nil
			}
			off += b.numBytes
		}
	}
	return nil, throw(exIO, "block %d is not under construction", u64(eb, "blockId"))
}

func (c *Cluster) complete(_ string, req protoreflect.Message) (fields, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.safeMode {
		return nil, throw(exSafeMode, "Cannot complete file %s. Name node is in safe mode.", str(req, "src"))
	}
	n, err := c.leased(req)
	if err != nil {
		return nil, err
	}
	if err := commitLast(n, sub(req, "last")); err != nil {
		return nil, err
	}
	n.writer = ""
	n.mtime = now()
	delete(c.open, n.id)
	return fields{"result": true}, nil
}

func (c *Cluster) rename2(user string, req protoreflect.Message) (fields, error) {
	src, dst, overwrite := str(req, "src"), str(req, "dst"), boolOf(req, "overwriteDest")
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable("rename", user, src, dst); err != nil {
		return nil, err
	}
	n := c.lookup(src)
	switch {
	case n == nil:
		return nil, throw(exFileNotFound, "rename source %s is not found.", src)
	case n.parent == nil:
		return nil, throw(exIO, "rename source cannot be the root")
	case src == dst:
		return nil, throw(exExists, "The source %s and destination %s are the same", src, dst)
	case strings.HasPrefix(dst, src+"/"):
		return nil, throw(exIO, "Rename destination %s is a directory or file under source %s", dst, src)
	}
	parent, err := c.parentDir(dst, "rename destination")
	if err != nil {
		return nil, err
	}
	if old := parent.children[path.Base(dst)]; old != nil {
		switch {
		case !overwrite:
			return nil, throw(exExists, "rename destination %s already exists", dst)
		case old.dir != n.dir:
			return nil, throw(exIO, "Source %s and destination %s must both be directories", src, dst)
		case old.dir && len(old.children) > 0:
			return nil, throw(exIO, "rename destination directory is not empty: %s", dst)
		}
		c.dropBlocks(old)
		c.detach(old)
	}
	c.detach(n)
	n.name, n.parent = path.Base(dst), parent
	parent.children[n.name] = n
	parent.mtime = now()
	return fields{}, nil
}

func (c *Cluster) delete(user string, req protoreflect.Message) (fields, error) {
	src, recursive := str(req, "src"), boolOf(req, "recursive")
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable("delete", user, src); err != nil {
		return nil, err
	}
	n := c.lookup(src)
	switch {
	case n == nil:
		return fields{"result": false}, nil
	case n.parent == nil:
		return nil, throw(exIO, "the root directory cannot be deleted")
	case n.dir && len(n.children) > 0 && !recursive:
		return nil, throw(exNotEmpty, "`%s is non empty': Directory is not empty", src)
	}
	c.dropBlocks(n)
	c.detach(n)
	return fields{"result": true}, nil
}

// dropBlocks forgets the files below n (their leases and replicas).
func (c *Cluster) dropBlocks(n *inode) {
	if n.dir {
		for _, child := range n.children {
			c.dropBlocks(child)
		}
		return
	}
	delete(c.open, n.id)
	for _, b := range n.blocks {
		c.dn.drop(b.id)
	}
}
