package maintenance_test

import (
	"testing"

	"github.com/campaignsms/campaignsms/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
