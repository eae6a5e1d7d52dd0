package cluster

import "github.com/meshready/meshready/internal/snapshot"

// Overlay lays manifest objects over live ones, as if they were applied:
// a file object replaces the live object of the same kind key, namespace
// and name, and the others are added. What controllers would derive from
// the files (pods, endpoints, statuses) stays as it is live.
func Overlay(live, files []*snapshot.Object) []*snapshot.Object {
	type id struct{ key, ns, name string }
	replaced := make(map[id]bool, len(files))
	for _, o := range files {
		replaced[id{o.Key, o.Namespace, o.Name}] = true
	}
	out := make([]*snapshot.Object, 0, len(live)+len(files))
	for _, o := range live {
		if !replaced[id{o.Key, o.Namespace, o.Name}] {
			out = append(out, o)
		}
	}
	return append(out, files...)
}
