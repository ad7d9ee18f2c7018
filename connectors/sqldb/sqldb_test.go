package sqldb

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://alice:s3cret@db:5432/shop?sslmode=disable": "postgres://alice:[redacted]@db:5432/shop?sslmode=disable",
		"postgres://alice@db/shop":                             "postgres://alice@db/shop",
		"alice:s3cret@tcp(db:3306)/shop":                       "alice:[redacted]@tcp(db:3306)/shop",
		"host=db user=alice password=s3cret dbname=shop":       "host=db user=alice password=[redacted] dbname=shop",
		"host=db password='two words' dbname=shop":             "host=db password=[redacted] dbname=shop",
		"postgres://db/shop?user=alice&password=s3cret&x=1":    "postgres://db/shop?user=alice&password=[redacted]&x=1",
		"file:donuts.db": "file:donuts.db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Scrub("postgres://alice:s3cret@db/shop", "auth failed: s3cret wrong"); strings.Contains(got, "s3cret") {
		t.Errorf("Scrub leaked: %s", got)
	}
}

func TestIdentifiers(t *testing.T) {
	for _, ok := range []string{"orders", "_x", "Order_2", strings.Repeat("a", 63)} {
		if !ValidIdent(ok) {
			t.Errorf("%q should be valid", ok)
		}
	}
	for _, bad := range []string{"", "1abc", "a b", `a"b`, "a;drop table x", "a-b", "a.b", strings.Repeat("a", 64)} {
		if ValidIdent(bad) {
			t.Errorf("%q should be invalid", bad)
		}
	}
	if CheckTable("public.orders") != nil || CheckTable(`orders"; --`) == nil || CheckTable("a.b.c") == nil {
		t.Error("CheckTable")
	}
	if got := Postgres.Quote("public.orders"); got != `"public"."orders"` {
		t.Errorf("postgres quote %s", got)
	}
	if got := MySQL.Quote("orders"); got != "`orders`" {
		t.Errorf("mysql quote %s", got)
	}
	if Postgres.Placeholder(3) != "$3" || SQLite.Placeholder(3) != "?" {
		t.Error("placeholders")
	}
}

func TestOpenSQLite(t *testing.T) {
	db, err := Open(SQLite, "file:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.GetContext(context.Background(), &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}
