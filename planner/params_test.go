package planner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func int4(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func int8(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// A statement prepared once and bound many times, in text and in binary,
// gives the same rows as the call with constants.
func TestPreparedReuse(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL)
	const q = `SELECT r.item, r.score, r.rank FROM rec($1, $2, ratings => (SELECT user_id, product_id, rating FROM ratings WHERE rating >= $3)) r ORDER BY r.rank`
	st, err := s.p.Prepare(s.ctx, s.conn, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ClientParams != 3 || !reflect.DeepEqual(st.ParamOIDs[:3], []uint32{23, 20, 1700}) {
		t.Fatalf("client params %d, types %v; want 3, [23 20 1700]", st.ClientParams, st.ParamOIDs)
	}
	// What the wire sends upstream describes as the client expects.
	sd, err := s.conn.pg.Prepare(s.ctx, "", st.SQL, st.ParamOIDs)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, f := range sd.Fields {
		fields = append(fields, fmt.Sprintf("%s:%d", f.Name, f.DataTypeOID))
	}
	if got := strings.Join(fields, " "); got != "item:23 score:701 rank:23" {
		t.Errorf("row description %s", got)
	}
	for user := int32(1); user <= 5; user++ {
		for n := int64(1); n <= 3; n++ {
			want := s.mustRun(fmt.Sprintf(`SELECT r.item, r.score, r.rank FROM rec(%d, %d, ratings => (SELECT user_id, product_id, rating FROM ratings WHERE rating >= 2.5)) r ORDER BY r.rank`, user, n))
			for _, format := range []int16{0, 1} {
				params := [][]byte{[]byte(strconv.Itoa(int(user))), []byte(strconv.Itoa(int(n))), []byte("2.5")}
				formats := []int16{0}
				if format == 1 {
					// numeric stays text: a mixed format list as pgx sends it.
					params = [][]byte{int4(user), int8(n), []byte("2.5")}
					formats = []int16{1, 1, 0}
				}
				extra, err := st.Bind(s.ctx, s.conn, params, formats)
				if err != nil {
					t.Fatal(err)
				}
				fmts := make([]int16, len(params)+len(extra))
				for i := range params {
					fmts[i] = paramFormat(formats, i)
				}
				got, err := s.direct(st.SQL, st.ParamOIDs, append(params, extra...), fmts)
				if err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("user %d n %d format %d:\n%s\nwant\n%s", user, n, format, got, want)
				}
			}
		}
	}
}

// Binary parameters of the common types decode as their text forms do.
func TestBinaryParams(t *testing.T) {
	s := newSession(t, Options{}, "")
	const q = `SELECT * FROM series($1, start => $2, label => $3)`
	st, err := s.p.Prepare(s.ctx, s.conn, q, []uint32{21, 1700, 25})
	if err != nil {
		t.Fatal(err)
	}
	// numeric -12.5 in binary: 2 digits, weight 0, negative, dscale 1: 12 . 5000
	num := []byte{0, 2, 0, 0, 0x40, 0, 0, 1, 0, 12, 0x13, 0x88}
	extra, err := st.Bind(s.ctx, s.conn, [][]byte{{0, 2}, num, []byte("lbl")}, []int16{1})
	if err != nil {
		t.Fatal(err)
	}
	all := append([][]byte{{0, 2}, num, []byte("lbl")}, extra...)
	fmts := make([]int16, len(all))
	fmts[0], fmts[1], fmts[2] = 1, 1, 1
	r, err := s.direct(st.SQL, st.ParamOIDs, all, fmts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "i | v | label | flag\n0 | -12.5 | lbl | f\n1 | -11.5 | lbl | f"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := st.Bind(s.ctx, s.conn, [][]byte{{0, 2}}, nil); err == nil {
		t.Error("Bind with too few parameters succeeded")
	}
}

// Parameters used only outside the call are typed by PostgreSQL; the
// client's own types win.
func TestParamTypes(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL)
	for _, c := range []struct {
		sql  string
		oids []uint32
		want []uint32
	}{
		{`SELECT * FROM series(2) s WHERE s.i < $1`, nil, []uint32{20}},
		{`SELECT * FROM series($2) s WHERE s.label = $1`, nil, []uint32{25, 20}},
		{`SELECT * FROM series($1::int4)`, nil, []uint32{23}},
		{`SELECT * FROM series($1)`, []uint32{23}, []uint32{23}},
		{`SELECT * FROM rec($1, ratings => (TABLE ratings))`, nil, []uint32{23}},
		{`SELECT * FROM series(2)`, []uint32{25, 25}, []uint32{25, 25}},
		// PostgreSQL's own error, as without the proxy.
		{`SELECT * FROM series(2)`, []uint32{0, 25}, nil},
	} {
		st, err := s.p.Prepare(s.ctx, s.conn, c.sql, c.oids)
		if c.want == nil {
			var ss sqlStater
			if !errors.As(err, &ss) || ss.SQLState() != "42P18" {
				t.Errorf("%s with types %v: error %v, want PostgreSQL's 42P18", c.sql, c.oids, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := st.ParamOIDs[:st.ClientParams]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: client types %v, want %v", c.sql, got, c.want)
		}
	}
}

// Relation arguments run on the session's connection: they see its open
// transaction.
func TestTransactionVisibility(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL)
	const q = `SELECT item FROM rec(5, 10, ratings => (SELECT user_id, product_id, rating FROM ratings)) ORDER BY rank`
	before := s.mustRun(q).String()
	s.exec("BEGIN")
	s.exec("INSERT INTO ratings VALUES (5, 101, 1), (5, 104, 1)")
	during := s.mustRun(q).String()
	s.exec("ROLLBACK")
	after := s.mustRun(q).String()
	if before != "item\n101\n104\n102\n103" || during != "item\n102\n103" || after != before {
		t.Errorf("before:\n%s\nduring:\n%s\nafter:\n%s", before, during, after)
	}
}

// A LATERAL call gives the same rows as one call per outer row.
func TestLateralEqualsPerRowCalls(t *testing.T) {
	s := newSession(t, Options{}, `
CREATE TABLE ratings AS SELECT u AS user_id, i AS item_id, (u * 7 + i * 3) % 5 + 1 AS rating
  FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i * i) % 3 = 0;
CREATE TABLE customers AS SELECT generate_series(0, 32) AS id;`)
	got := s.mustRun(`SELECT c.id, r.item, r.score, r.rank FROM customers c
		JOIN LATERAL rec(c.id, 4, ratings => (SELECT user_id, item_id, rating FROM ratings)) r ON true ORDER BY c.id, r.rank`)
	var want []string
	for id := 0; id <= 32; id++ {
		r := s.mustRun(fmt.Sprintf(`SELECT %d AS id, item, score, rank FROM rec(%d, 4, ratings => (SELECT user_id, item_id, rating FROM ratings)) ORDER BY rank`, id, id))
		for _, row := range r.rows {
			want = append(want, strings.Join(row, " | "))
		}
	}
	var gotRows []string
	for _, row := range got.rows {
		gotRows = append(gotRows, strings.Join(row, " | "))
	}
	if len(gotRows) < 100 || !reflect.DeepEqual(gotRows, want) {
		t.Errorf("lateral gave %d rows, per-row calls %d:\n%s\nwant\n%s", len(gotRows), len(want), strings.Join(gotRows, "\n"), strings.Join(want, "\n"))
	}
}

// A user or item argument (anyelement) matches the key column by the text
// PostgreSQL prints for the key's type, however the client wrote or sent
// it: before, each of these found no user and returned no rows.
func TestKeyArgumentsTakeTheKeyColumnsType(t *testing.T) {
	s := newSession(t, Options{}, ratingsSQL+`
SET TimeZone = 'Asia/Kolkata';
CREATE TABLE keyed AS SELECT ('2024-01-0' || user_id)::date AS d, ('2024-01-0' || user_id)::timestamptz AS ts,
    ('00000000-0000-0000-0000-00000000000' || user_id)::uuid AS u, product_id, rating FROM ratings;`)
	want := s.mustRun(`SELECT item, score FROM rec(1, ratings => (SELECT user_id, product_id, rating FROM ratings)) ORDER BY rank`).String()
	// 2024-01-01 00:00 in Asia/Kolkata, in microseconds since 2000-01-01 UTC.
	ts := int8((time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("IST", 19800)).Unix() - 946684800) * 1_000_000)
	for _, c := range []struct {
		sql     string
		params  [][]byte
		formats []int16
	}{
		{`SELECT item, score FROM rec('2024-1-1', ratings => (SELECT d, product_id, rating FROM keyed)) ORDER BY rank`, nil, nil},
		{`SELECT item, score FROM rec('2024-1-1'::date, ratings => (SELECT d, product_id, rating FROM keyed)) ORDER BY rank`, nil, nil},
		{`SELECT item, score FROM rec($1, ratings => (SELECT d, product_id, rating FROM keyed)) ORDER BY rank`, [][]byte{[]byte("Jan 1 2024")}, nil},
		{`SELECT item, score FROM rec('{00000000-0000-0000-0000-000000000001}', ratings => (SELECT u, product_id, rating FROM keyed)) ORDER BY rank`, nil, nil},
		{`SELECT item, score FROM rec($1, ratings => (SELECT ts, product_id, rating FROM keyed)) ORDER BY rank`, [][]byte{ts}, []int16{1}},
	} {
		r, err := s.run(c.sql, nil, c.params, c.formats)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if r.String() != want {
			t.Errorf("%s:\n%s\nwant\n%s", c.sql, r, want)
		}
	}
	// A value the key's type refuses is PostgreSQL's error, as for a
	// direct call, not an empty result.
	_, err := s.run(`SELECT * FROM rec('no uuid', ratings => (SELECT u, product_id, rating FROM keyed))`, nil, nil, nil)
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "22P02" {
		t.Errorf("a user that is no uuid: %v, want 22P02", err)
	}
}
