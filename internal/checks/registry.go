// Package checks is the one registry of checklist items: the catalog
// (identity, wording, order) joined with each item's implementation.
package checks

import (
	"fmt"
	"sort"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/controlplane"
	"github.com/meshready/meshready/internal/checks/gateway"
	"github.com/meshready/meshready/internal/checks/injection"
	"github.com/meshready/meshready/internal/checks/observability"
	"github.com/meshready/meshready/internal/checks/operations"
	"github.com/meshready/meshready/internal/checks/policy"
	"github.com/meshready/meshready/internal/checks/security"
	"github.com/meshready/meshready/internal/checks/services"
	"github.com/meshready/meshready/internal/checks/traffic"
	"github.com/meshready/meshready/internal/checks/verification"
)

// implementations lists every area's checks; the catalog decides the order.
func implementations() []*check.Check {
	var all []*check.Check
	for _, area := range [][]*check.Check{
		controlplane.Checks(),
		injection.Checks(),
		gateway.Checks(),
		policy.Checks(),
		security.Checks(),
		traffic.Checks(),
		observability.Checks(),
		services.Checks(),
		verification.Checks(),
		operations.Checks(),
	} {
		all = append(all, area...)
	}
	return all
}

// All returns every item in checklist order. An item without an
// implementation gets an empty Check, so the engine's generic handling
// (docs, manual, probe, pending) still applies; Validate reports those.
func All() []check.Item {
	impl := map[string]*check.Check{}
	for _, c := range implementations() {
		impl[c.ID] = c
	}
	items := make([]check.Item, 0, len(catalog))
	for _, m := range catalog {
		c := impl[m.ID]
		if c == nil {
			c = &check.Check{ID: m.ID}
		}
		items = append(items, check.Item{Meta: m, Check: c})
	}
	return items
}

// Catalog returns the checklist metadata in order.
func Catalog() []check.Meta { return append([]check.Meta(nil), catalog...) }

// Validate reports registry defects: duplicate IDs, implementations with no
// catalog entry, catalog items with no implementation.
func Validate() []error {
	var errs []error
	inCatalog := map[string]bool{}
	for _, m := range catalog {
		if inCatalog[m.ID] {
			errs = append(errs, fmt.Errorf("catalog: duplicate ID %s", m.ID))
		}
		inCatalog[m.ID] = true
	}
	seen := map[string]bool{}
	for _, c := range implementations() {
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("implementation of %s registered twice", c.ID))
		}
		seen[c.ID] = true
		if !inCatalog[c.ID] {
			errs = append(errs, fmt.Errorf("implementation %s has no catalog entry", c.ID))
		}
	}
	var missing []string
	for id := range inCatalog {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	for _, id := range missing {
		errs = append(errs, fmt.Errorf("item %s has no implementation", id))
	}
	return errs
}
