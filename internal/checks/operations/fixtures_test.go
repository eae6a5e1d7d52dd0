package operations_test

import (
	"testing"

	"github.com/meshready/meshready/internal/checks/checktest"
)

func TestFixtures(t *testing.T) { checktest.Run(t, "testdata") }
