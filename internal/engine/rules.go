package engine

import (
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/rules/checkitem"
)

// withRules adds the config's own rules (custom.<id>) to the items, before
// the sign-offs: a sign-off approves them too.
func withRules(items []check.Item, cfg *config.Config) []check.Item {
	custom := checkitem.Items(cfg)
	if len(custom) == 0 {
		return items
	}
	at := len(items)
	for i, it := range items {
		if isSignoff(it.Meta.ID) {
			at = i
			break
		}
	}
	out := make([]check.Item, 0, len(items)+len(custom))
	out = append(out, items[:at]...)
	out = append(out, custom...)
	return append(out, items[at:]...)
}
