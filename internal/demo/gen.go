package demo

import (
	"context"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// A rowGen produces one table's rows one at a time into a reused slice, so
// the data set never exists in memory: only the current customer's few
// dozen sales, ratings and events do.
type rowGen interface {
	// next fills row and reports whether there was a row.
	next(row []any) bool
}

// source adapts a rowGen to pgx.CopyFromSource, checking for cancellation
// and reporting progress every few thousand rows.
type source struct {
	ctx  context.Context
	gen  rowGen
	row  []any
	rows int64
	err  error
	tick func(rows int64)
}

const checkEvery = 4096

func (s *source) Next() bool {
	if s.rows%checkEvery == 0 {
		if err := s.ctx.Err(); err != nil {
			s.err = err
			return false
		}
		if s.tick != nil {
			s.tick(s.rows)
		}
	}
	if !s.gen.next(s.row) {
		return false
	}
	s.rows++
	return true
}

func (s *source) Values() ([]any, error) { return s.row, nil }

func (s *source) Err() error { return s.err }

// numeric encodes a value in cents as numeric with two decimals. The
// big.Int is reused: pgx encodes a row's values before asking for the next.
func numeric(n *big.Int, cents int64) pgtype.Numeric {
	return pgtype.Numeric{Int: n.SetInt64(cents), Exp: -2, Valid: true}
}

// productGen yields dim_product.
type productGen struct {
	m     *model
	j     int
	price big.Int
}

func (g *productGen) next(row []any) bool {
	if g.j >= g.m.products {
		return false
	}
	p := g.m.productAt(g.j)
	name, desc := g.m.productText(g.j)
	row[0] = p.id
	row[1] = name
	row[2] = categories[p.category].name
	row[3] = desc
	row[4] = numeric(&g.price, p.cents)
	g.j++
	return true
}

var productColumns = []string{"product_id", "product_name", "category", "description", "price"}

// customerGen yields dim_customer. The segment inputs are measured on the
// customer's generated sales, the same rows fact_sales gets.
type customerGen struct {
	m      *model
	i      int
	sales  []sale
	nSales int64 // sales generated so far, for the progress estimate
	freq   big.Int
	spend  big.Int
}

func (g *customerGen) next(row []any) bool {
	if g.i >= g.m.customers {
		return false
	}
	cu := g.m.customerAt(g.i)
	g.sales = g.m.sales(&cu, g.sales)
	g.nSales += int64(len(g.sales))
	in := inputsOf(&cu, g.sales)
	row[0] = cu.id
	row[1] = cu.name
	row[2] = cu.region
	row[3] = dayTime(cu.signup)
	row[4] = segments[cu.segment].name
	row[5] = numeric(&g.freq, in.frequencyCents)
	row[6] = numeric(&g.spend, in.avgSpendCents)
	row[7] = in.recencyDays
	g.i++
	return true
}

var customerColumns = []string{"customer_id", "customer_name", "region", "signup_date", "segment",
	"purchase_frequency", "avg_spend", "last_purchase_days_ago"}

// perCustomer walks the customers in id order and hands out the rows a
// table derives from each one's sales.
type perCustomer struct {
	m     *model
	i     int
	cu    customer
	sales []sale
	pos   int // next row of the current customer
	n     int // rows of the current customer
}

// advance moves to the next customer that has rows, calling fill to
// generate them; false at the end.
func (w *perCustomer) advance(fill func() int) bool {
	for w.pos >= w.n {
		if w.i >= w.m.customers {
			return false
		}
		w.cu = w.m.customerAt(w.i)
		w.sales = w.m.sales(&w.cu, w.sales)
		w.i++
		w.pos, w.n = 0, fill()
	}
	return true
}

// salesGen yields fact_sales; sale ids run in customer order, and by date
// within a customer.
type salesGen struct {
	perCustomer
	id     int64
	amount big.Int
}

func (g *salesGen) next(row []any) bool {
	if !g.advance(func() int { return len(g.sales) }) {
		return false
	}
	s := &g.sales[g.pos]
	g.pos++
	g.id++
	row[0] = g.id
	row[1] = s.product
	row[2] = g.cu.id
	row[3] = s.quantity
	row[4] = numeric(&g.amount, s.cents)
	row[5] = dayTime(s.day)
	return true
}

var salesColumns = []string{"sale_id", "product_id", "customer_id", "quantity", "sales_amount", "sale_date"}

// ratingGen yields fact_ratings.
type ratingGen struct {
	perCustomer
	buf  []rating
	seen map[int32]bool
}

func (g *ratingGen) next(row []any) bool {
	if !g.advance(func() int {
		g.buf = g.m.ratings(&g.cu, g.sales, g.buf, g.seen)
		return len(g.buf)
	}) {
		return false
	}
	r := &g.buf[g.pos]
	g.pos++
	row[0] = g.cu.id
	row[1] = r.product
	row[2] = r.rating
	row[3] = time.Unix(r.at, 0).UTC()
	return true
}

var ratingColumns = []string{"customer_id", "product_id", "rating", "rated_at"}

// eventGen yields events; event ids run in customer order, and by time
// within a customer's day.
type eventGen struct {
	perCustomer
	buf []event
	id  int64
}

func (g *eventGen) next(row []any) bool {
	if !g.advance(func() int {
		g.buf = g.m.events(&g.cu, g.sales, g.buf)
		return len(g.buf)
	}) {
		return false
	}
	e := &g.buf[g.pos]
	g.pos++
	g.id++
	row[0] = g.id
	row[1] = g.cu.id
	row[2] = eventTypes[e.kind]
	row[3] = e.product
	row[4] = time.Unix(e.at, 0).UTC()
	return true
}

var eventColumns = []string{"event_id", "customer_id", "event_type", "product_id", "event_time"}
