package sqldb

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// canaryRE finds a canary secret in any text. Every password below holds
// one (SECRET followed by a digit), so no form of a password can show
// without one of them showing.
var canaryRE = regexp.MustCompile(`SECRET\d+`)

// dsnForms covers every DSN form the drivers take, with passwords that
// have '@', spaces, quotes, escapes and percent-escapes in them. ADDR is an
// address nothing listens on, or a fake server.
var dsnForms = []struct {
	dialect  Dialect
	dsn      string
	redacted string
}{
	{Postgres, "postgresql://u:PW@SECRET1@ADDR/db?sslmode=disable", "postgresql://u:[redacted]@ADDR/db?sslmode=disable"},
	{Postgres, "postgres://u:SECRET2@ADDR/db?sslmode=disable", "postgres://u:[redacted]@ADDR/db?sslmode=disable"},
	{Postgres, "postgres://u:PW%40SECRET3@ADDR/db?sslmode=disable", "postgres://u:[redacted]@ADDR/db?sslmode=disable"},
	{Postgres, "postgres://u:PW/SECRET4@ADDR/db?sslmode=disable", "postgres://u:[redacted]@ADDR/db?sslmode=disable"},
	{Postgres, "postgres://u@ADDR/db?sslmode=disable&password=PW%20SECRET5", "postgres://u@ADDR/db?sslmode=disable&password=[redacted]"},
	{Postgres, `host=HOST port=PORT user=u password=PW\ SECRET6 dbname=db sslmode=disable`, "host=HOST port=PORT user=u password=[redacted] dbname=db sslmode=disable"},
	{Postgres, `host=HOST port=PORT user=u password='it''s SECRET7' dbname=db sslmode=disable`, "host=HOST port=PORT user=u password=[redacted] dbname=db sslmode=disable"},
	{Postgres, `host=HOST port=PORT user=u password='it\'s SECRET8' dbname=db sslmode=disable`, "host=HOST port=PORT user=u password=[redacted] dbname=db sslmode=disable"},
	{Postgres, `user=u password = "SECRET9 x=y" host=HOST port=PORT sslmode=disable`, "user=u password = [redacted] host=HOST port=PORT sslmode=disable"},
	{Postgres, `host=HOST port=PORT user=u sslpassword=SECRET10 password=SECRET11 sslmode=disable`, "host=HOST port=PORT user=u sslpassword=[redacted] password=[redacted] sslmode=disable"},
	{MySQL, "u:PW@SECRET12@tcp(ADDR)/db?timeout=2s", "u:[redacted]@tcp(ADDR)/db?timeout=2s"},
	{MySQL, "u:PW SECRET13@tcp(ADDR)/db?timeout=2s", "u:[redacted]@tcp(ADDR)/db?timeout=2s"},
	{MySQL, "u:SECRET14@/db?timeout=2s", "u:[redacted]@/db?timeout=2s"},
	{SQLite, "file:/nonexistent/dir/x@y.db?_auth_pass=SECRET15", "file:/nonexistent/dir/x@y.db?_auth_pass=[redacted]"},
	{SQLite, "file:/nonexistent/dir/x.db?_pragma=key('SECRET16')&mode=ro", "file:/nonexistent/dir/x.db?_pragma=key([redacted])&mode=ro"},
}

func fill(s, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return strings.NewReplacer("ADDR", addr, "HOST", host, "PORT", port).Replace(s)
}

// TestCanaryDSN: no DSN form shows its password, or a part of it, in the
// redacted DSN, or in any error the drivers return for it, scrubbed as the
// connectors scrub them: nothing listening, an unknown host, a server that
// refuses the password.
func TestCanaryDSN(t *testing.T) {
	closed := closedAddr(t)
	fake := fakePostgres(t)
	for _, f := range dsnForms {
		addrs := []string{closed, "nohost.invalid:5432"}
		if f.dialect == Postgres {
			addrs = append(addrs, fake.addr)
		}
		for _, addr := range addrs {
			dsn := fill(f.dsn, addr)
			if got := RedactDSN(dsn); got != fill(f.redacted, addr) {
				t.Errorf("RedactDSN(%s)\n got %s\nwant %s", dsn, got, fill(f.redacted, addr))
			}
			db, err := Open(f.dialect, dsn)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err = db.PingContext(ctx)
				cancel()
				db.Close()
				if err == nil {
					t.Errorf("%s: connected; want an error", dsn)
					continue
				}
				// As the connectors print it.
				err = fmt.Errorf("database %s: %s", RedactDSN(dsn), Scrub(dsn, err.Error()))
			}
			if leak := canaryRE.FindString(err.Error()); leak != "" {
				t.Errorf("%s: %s shows in: %v", dsn, leak, err)
			}
		}
	}
	// The fake server asked each PostgreSQL DSN it saw for its password:
	// the drivers got them whole, so the forms above mean what they say.
	if got := strings.Join(fake.passwords(), ","); !strings.Contains(got, "PW SECRET6") || !strings.Contains(got, "it's SECRET8") {
		t.Errorf("the fake server got the passwords %q", got)
	}
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fakeServer is a PostgreSQL server that asks for a cleartext password and
// refuses it, as a server with password authentication does.
type fakeServer struct {
	addr string
	got  chan string
}

func (f *fakeServer) passwords() []string {
	var out []string
	for {
		select {
		case p := <-f.got:
			out = append(out, p)
		default:
			return out
		}
	}
}

// fakePostgres starts a fake server; it stops with the test.
func fakePostgres(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeServer{addr: ln.Addr().String(), got: make(chan string, 100)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.refuse(conn)
		}
	}()
	return f
}

func (f *fakeServer) refuse(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	be := pgproto3.NewBackend(conn, conn)
	msg, err := be.ReceiveStartupMessage()
	if _, ok := msg.(*pgproto3.SSLRequest); ok && err == nil {
		if _, err := conn.Write([]byte("N")); err != nil {
			return
		}
		msg, err = be.ReceiveStartupMessage()
	}
	start, ok := msg.(*pgproto3.StartupMessage)
	if err != nil || !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	m, err := be.Receive()
	pw, ok := m.(*pgproto3.PasswordMessage)
	if err != nil || !ok {
		return
	}
	select {
	case f.got <- pw.Password:
	default:
	}
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
		Message: fmt.Sprintf("password authentication failed for user %q", start.Parameters["user"])})
	_ = be.Flush()
}
