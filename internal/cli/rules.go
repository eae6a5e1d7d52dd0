package cli

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/rules/checkitem"
)

func isCustom(id string) bool { return strings.HasPrefix(id, rules.ItemPrefix) }

// itemsWithRules returns the checklist's items followed by the rules of
// meshready.yaml (--config, else ./meshready.yaml when there is one). A
// config that cannot be read is an error only when it was named or its
// rules are needed.
func itemsWithRules(configPath string, needRules bool) ([]check.Item, error) {
	items := checks.All()
	path := configPath
	if path == "" {
		if !needRules {
			return items, nil
		}
		if _, err := os.Stat(config.FileName); errors.Is(err, fs.ErrNotExist) {
			return items, nil
		}
		path = config.FileName
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, exitcode.Usagef(err)
	}
	return append(items, checkitem.Items(cfg)...), nil
}

// customRuleExists reports whether id is custom.<id> of a rule in the
// config (--config, else ./meshready.yaml), for `meshready waive`.
func customRuleExists(configPath, id string) bool {
	if !isCustom(id) {
		return false
	}
	items, err := itemsWithRules(configPath, true)
	if err != nil {
		return false
	}
	for _, it := range items {
		if it.Meta.ID == id {
			return true
		}
	}
	return false
}
