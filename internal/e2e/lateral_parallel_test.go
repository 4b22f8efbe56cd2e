package e2e

import (
	"context"
	"fmt"
	"testing"
)

// TestLateralModelRunsInParallel: a LATERAL call from a stored model runs
// its users on every core; the result and the logged decisions are those
// of the calls one by one.
func TestLateralModelRunsInParallel(t *testing.T) {
	addr, db := startProxy(t)
	conn := connect(t, addr, db)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE r AS SELECT u, i, 1 + (u * 7 + i * 13) % 5 AS v
FROM generate_series(1, 400) u, generate_series(1, 40) i WHERE (u + i) % 3 <> 0`); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"user_cf", "nmf"} {
		scalar[int32](t, conn, "SELECT version FROM flywheel.train('m_"+method+"', 'recommend', (SELECT u, i, v FROM r), method => '"+method+"')")
		const diff = `SELECT count(*) FROM (
  (SELECT u.u, x.item, x.score, x.rank FROM generate_series(0, 401) u CROSS JOIN LATERAL recommend(u.u, 5, model => 'm_%[1]s', log => true) x
   EXCEPT ALL
   SELECT u, item, score, rank FROM single_%[1]s)
  UNION ALL
  (SELECT u, item, score, rank FROM single_%[1]s
   EXCEPT ALL
   SELECT u.u, x.item, x.score, x.rank FROM generate_series(0, 401) u CROSS JOIN LATERAL recommend(u.u, 5, model => 'm_%[1]s') x)) d`
		if _, err := conn.Exec(ctx, "CREATE TABLE single_"+method+" (u int, item int, score float8, rank int)"); err != nil {
			t.Fatal(err)
		}
		for u := 0; u <= 401; u++ {
			if _, err := conn.Exec(ctx, "INSERT INTO single_"+method+" SELECT $1::int, * FROM recommend($1::int, 5, model => 'm_"+method+"')", u); err != nil {
				t.Fatal(err)
			}
		}
		if n := scalar[int64](t, conn, fmt.Sprintf(diff, method)); n != 0 {
			t.Fatalf("%s: LATERAL and one call per user differ in %d rows", method, n)
		}
		// The log holds what was served, each row once.
		const logged = `SELECT count(*) FROM (
  (SELECT user_key::int, item::int, rank FROM flywheel.decisions WHERE model = 'm_%[1]s' EXCEPT ALL SELECT u, item, rank FROM single_%[1]s)
  UNION ALL
  (SELECT u, item, rank FROM single_%[1]s EXCEPT ALL SELECT user_key::int, item::int, rank FROM flywheel.decisions WHERE model = 'm_%[1]s')) d`
		if n := scalar[int64](t, conn, fmt.Sprintf(logged, method)); n != 0 {
			t.Fatalf("%s: the log and the calls differ in %d rows", method, n)
		}
		if n, want := scalar[int64](t, conn, "SELECT count(*) FROM flywheel.decisions WHERE model = 'm_"+method+"'"), scalar[int64](t, conn, "SELECT count(*) FROM single_"+method); n != want {
			t.Fatalf("%s: %d decisions logged, want %d", method, n, want)
		}
	}
}
