package watch

import "strings"

// tree records which directories are watched, by their path relative to the
// root, so that a directory that goes away takes the watches below it along.
// It is used by the watcher's own goroutine only.
type tree struct {
	root  node
	count int // watched nodes
}

type node struct {
	children map[string]*node
	watched  bool
	// seen is the generation of the last full walk that found the
	// directory; a walk drops the watched nodes it did not see.
	seen uint64
}

// find returns the node of rel ("" is the root), or nil.
func (t *tree) find(rel string) *node {
	n := &t.root
	if rel == "" {
		return n
	}
	for part := range strings.SplitSeq(rel, "/") {
		n = n.children[part]
		if n == nil {
			return nil
		}
	}
	return n
}

// mark records rel as watched and seen in generation gen, and reports
// whether it was watched before.
func (t *tree) mark(rel string, gen uint64) (already bool) {
	n := &t.root
	if rel != "" {
		for part := range strings.SplitSeq(rel, "/") {
			c := n.children[part]
			if c == nil {
				if n.children == nil {
					n.children = make(map[string]*node)
				}
				c = &node{}
				n.children[part] = c
			}
			n = c
		}
	}
	n.seen = gen
	if n.watched {
		return true
	}
	n.watched = true
	t.count++
	return false
}

// remove forgets rel and everything below it, calling unwatch for each
// watched directory, deepest first.
func (t *tree) remove(rel string, unwatch func(rel string)) {
	if rel == "" {
		t.clear(&t.root, "", unwatch)
		return
	}
	parentRel, name := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parentRel, name = rel[:i], rel[i+1:]
	}
	parent := t.find(parentRel)
	if parent == nil {
		return
	}
	n := parent.children[name]
	if n == nil {
		return
	}
	t.clear(n, rel, unwatch)
	delete(parent.children, name)
}

func (t *tree) clear(n *node, rel string, unwatch func(rel string)) {
	for name, c := range n.children {
		t.clear(c, join(rel, name), unwatch)
	}
	n.children = nil
	if n.watched {
		n.watched = false
		t.count--
		unwatch(rel)
	}
}

// sweep drops the watched directories not seen in generation gen, with the
// nodes below them.
func (t *tree) sweep(gen uint64, unwatch func(rel string)) {
	t.sweepNode(&t.root, "", gen, unwatch)
}

func (t *tree) sweepNode(n *node, rel string, gen uint64, unwatch func(rel string)) {
	for name, c := range n.children {
		crel := join(rel, name)
		if c.watched && c.seen != gen {
			t.clear(c, crel, unwatch)
			delete(n.children, name)
			continue
		}
		t.sweepNode(c, crel, gen, unwatch)
		if !c.watched && len(c.children) == 0 {
			delete(n.children, name)
		}
	}
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}
