package demo

import (
	"bufio"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestDump writes the generated tables as CSV into $FLYWHEEL_DEMO_DUMP (scale
// $FLYWHEEL_DEMO_SCALE, default 1), without a database, for
// testdata/demo/check_structure.py. Skipped unless the variable is set.
func TestDump(t *testing.T) {
	dir := os.Getenv("FLYWHEEL_DEMO_DUMP")
	if dir == "" {
		t.Skip("set FLYWHEEL_DEMO_DUMP=<dir> to write the generated tables as CSV")
	}
	scale := 1
	if s := os.Getenv("FLYWHEEL_DEMO_SCALE"); s != "" {
		var err error
		if scale, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	m := newModel(scale, DefaultSeed)
	for _, tb := range []struct {
		name    string
		columns []string
		gen     rowGen
	}{
		{"dim_product", productColumns, &productGen{m: m}},
		{"dim_customer", customerColumns, &customerGen{m: m}},
		{"fact_sales", salesColumns, &salesGen{perCustomer: perCustomer{m: m}}},
		{"fact_ratings", ratingColumns, &ratingGen{perCustomer: perCustomer{m: m}, seen: map[int32]bool{}}},
		{"events", eventColumns, &eventGen{perCustomer: perCustomer{m: m}}},
	} {
		f, err := os.Create(filepath.Join(dir, tb.name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for i, c := range tb.columns {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(c)
		}
		w.WriteByte('\n')
		row := make([]any, len(tb.columns))
		n := 0
		for tb.gen.next(row) {
			n++
			for i, v := range row {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(csvValue(v))
			}
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		t.Logf("%s: %d rows", tb.name, n)
	}
}

func csvValue(v any) string {
	switch x := v.(type) {
	case pgtype.Numeric:
		return new(big.Rat).SetFrac(x.Int, big.NewInt(100)).FloatString(2)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.DateTime)
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}
