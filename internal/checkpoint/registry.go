package checkpoint

import (
	"fmt"
	"slices"
	"sort"
)

// span is a byte range of a file.
type span struct{ off, n int64 }

// fileRef is what the registry knows about one file.
type fileRef struct {
	refs  int          // registered checkpoints referencing the file
	size  int64        // the file's size (at least the end of every span)
	spans map[span]int // checkpoints referencing each range
	live  int64        // bytes of the ranges some checkpoint references
	owner int64
	owned bool
}

// Registry counts the references of registered (retained) checkpoints to
// files: segments, shared files and own files. A file whose count drops to
// zero is no longer needed by any retained checkpoint. For files holding
// several ranges (segments) it tracks the bytes still referenced, to find
// segments whose space amplification (size / live bytes) grew too large.
// It is pure bookkeeping: Storage deletes the files. Not safe for
// concurrent use.
type Registry struct {
	owner     func(path string) (int64, bool)
	files     map[string]*fileRef
	ckpts     map[int64]map[string][]span
	ownerRefs map[int64]int
}

// NewRegistry returns an empty registry. owner, if not nil, maps a file to
// the checkpoint id whose directories hold it (see OwnerRefs).
func NewRegistry(owner func(path string) (int64, bool)) *Registry {
	return &Registry{
		owner:     owner,
		files:     map[string]*fileRef{},
		ckpts:     map[int64]map[string][]span{},
		ownerRefs: map[int64]int{},
	}
}

// Register adds the references of checkpoint id, described by md.
func (r *Registry) Register(id int64, md *Metadata) error {
	if _, ok := r.ckpts[id]; ok {
		return fmt.Errorf("checkpoint %d is already registered", id)
	}
	refs := map[string][]span{}
	_ = forEachHandle(md, func(_ string, h *Handle) error {
		if h.Path != "" {
			sp := span{h.Offset, h.Length}
			if !slices.Contains(refs[h.Path], sp) {
				refs[h.Path] = append(refs[h.Path], sp)
			}
		}
		return nil
	})
	r.ckpts[id] = refs
	for p, spans := range refs {
		f := r.files[p]
		if f == nil {
			f = &fileRef{spans: map[span]int{}}
			if r.owner != nil {
				f.owner, f.owned = r.owner(p)
			}
			if f.owned {
				r.ownerRefs[f.owner]++
			}
			r.files[p] = f
		}
		f.refs++
		for _, sp := range spans {
			if f.spans[sp] == 0 {
				f.live += sp.n
			}
			f.spans[sp]++
			f.size = max(f.size, sp.off+sp.n)
		}
	}
	return nil
}

// Unregister removes the references of checkpoint id and returns the files
// no registered checkpoint references anymore, sorted.
func (r *Registry) Unregister(id int64) []string {
	refs, ok := r.ckpts[id]
	if !ok {
		return nil
	}
	delete(r.ckpts, id)
	var released []string
	for p, spans := range refs {
		f := r.files[p]
		f.refs--
		if f.refs == 0 {
			delete(r.files, p)
			if f.owned {
				if r.ownerRefs[f.owner]--; r.ownerRefs[f.owner] == 0 {
					delete(r.ownerRefs, f.owner)
				}
			}
			released = append(released, p)
			continue
		}
		for _, sp := range spans {
			if f.spans[sp]--; f.spans[sp] == 0 {
				delete(f.spans, sp)
				f.live -= sp.n
			}
		}
	}
	sort.Strings(released)
	return released
}

// Registered reports whether checkpoint id is registered.
func (r *Registry) Registered(id int64) bool {
	_, ok := r.ckpts[id]
	return ok
}

// IDs returns the registered checkpoint ids, ascending.
func (r *Registry) IDs() []int64 {
	ids := make([]int64, 0, len(r.ckpts))
	for id := range r.ckpts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Refs returns the number of registered checkpoints referencing path.
func (r *Registry) Refs(path string) int {
	if f := r.files[path]; f != nil {
		return f.refs
	}
	return 0
}

// Files returns the referenced files, sorted.
func (r *Registry) Files() []string {
	out := make([]string, 0, len(r.files))
	for p := range r.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// OwnerRefs returns the number of referenced files the owner function
// attributes to owner.
func (r *Registry) OwnerRefs(owner int64) int { return r.ownerRefs[owner] }

// SetSize records the real size of path (e.g. from a Stat after Recover,
// when the checkpoint that wrote a segment is gone).
func (r *Registry) SetSize(path string, size int64) {
	if f := r.files[path]; f != nil {
		f.size = max(f.size, size)
	}
}

// Usage returns the size of path and the bytes of it still referenced.
func (r *Registry) Usage(path string) (size, live int64) {
	if f := r.files[path]; f != nil {
		return f.size, f.live
	}
	return 0, 0
}

// Amplified returns the referenced files whose size exceeds limit times
// their referenced bytes.
func (r *Registry) Amplified(limit float64) map[string]bool {
	out := map[string]bool{}
	for p, f := range r.files {
		if f.live > 0 && float64(f.size) > limit*float64(f.live) {
			out[p] = true
		}
	}
	return out
}
