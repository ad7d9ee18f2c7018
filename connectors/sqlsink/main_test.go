package sqlsink

import (
	"os"
	"testing"

	"github.com/conveyor-dev/conveyor/internal/service"
)

func TestMain(m *testing.M) { os.Exit(service.Main(m)) }
