package demo

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Shop is the demo warehouse's customers as a simulation, for
// `flywheel demo loop`: the hidden tastes the generator drew the warehouse
// from (the same scale and seed give the same customers), so that shown a
// shelf of products they react the way their generated history says they
// would. Nothing in it changes after NewShop; it is safe for concurrent use.
type Shop struct {
	m *model
	// loopSeed selects the simulation's own draws (who visits, what they
	// click), independently of the warehouse's rows.
	loopSeed int64
}

// streamLoop is the simulation's stream kind; the warehouse's kinds are
// in rand.go, and this one is after them so their streams stay as they were.
const streamLoop = streamProduct + 1

// NewShop returns the customers of the warehouse generated with scale and
// seed, reacting with draws chosen by loopSeed.
func NewShop(scale int, seed, loopSeed int64) (*Shop, error) {
	if err := CheckScale(scale); err != nil {
		return nil, err
	}
	return &Shop{m: newModel(scale, seed), loopSeed: loopSeed}, nil
}

// Customers is the number of customers (ids 1..Customers()).
func (s *Shop) Customers() int { return s.m.customers }

// rng returns the simulation's stream for id.
func (s *Shop) rng(id int64) *rng {
	r := new(rng)
	r.reset(int64(splitmix64(uint64(s.m.seed))^uint64(s.loopSeed)), streamLoop, id)
	return r
}

// Cohort draws n distinct customer ids (a partial Fisher-Yates shuffle of
// all customers), the same for the same seeds: the customers who visit the
// shop every week of the loop.
func (s *Shop) Cohort(n int) ([]int32, error) {
	if n < 1 || n > s.m.customers {
		return nil, fmt.Errorf("demo: a cohort of %d customers: want 1..%d", n, s.m.customers)
	}
	ids := make([]int32, s.m.customers)
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	r := s.rng(-1)
	for i := range n {
		j := i + r.intn(len(ids)-i)
		ids[i], ids[j] = ids[j], ids[i]
	}
	return ids[:n], nil
}

func (s *Shop) customer(id int32) (customer, error) {
	if id < 1 || int(id) > s.m.customers {
		return customer{}, fmt.Errorf("demo: no customer %d (ids 1..%d)", id, s.m.customers)
	}
	return s.m.customerAt(int(id) - 1), nil
}

func (s *Shop) product(id int32) (product, error) {
	if id < 1 || int(id) > s.m.products {
		return product{}, fmt.Errorf("demo: no product %d (ids 1..%d)", id, s.m.products)
	}
	return s.m.productAt(int(id) - 1), nil
}

// Likes is the probability that the customer likes the product: that the
// rating the generator would draw for it is 4 or 5. It is near 1 for
// products of the customer's main taste factor, below one half for the
// second factor, and about 0.01 for the rest.
func (s *Shop) Likes(customerID, productID int32) (float64, error) {
	cu, err := s.customer(customerID)
	if err != nil {
		return 0, err
	}
	p, err := s.product(productID)
	if err != nil {
		return 0, err
	}
	return likes(&cu, p), nil
}

// likes: rating = round(1 + 4 (mean + 0.12 Z)) >= 4 exactly when
// mean + 0.12 Z >= 0.625.
func likes(cu *customer, p product) float64 {
	z := (0.625 - ratingMean(cu, p)) / 0.12
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// How shown products turn into events: a shown product is clicked (and
// viewed) with probability ClickShare x Likes, and a clicked one bought
// (cart, purchase) with probability BuyShare x Likes. A product nobody
// likes is ignored whoever shows it, so the hit rate measures how well a
// shelf matches the hidden tastes.
const (
	ClickShare = 0.6
	BuyShare   = 0.5
)

// Event is one row for the events table.
type Event struct {
	Type    string // click, view, cart, purchase
	Product int32
	At      time.Time
}

// Rating is one row for the fact_ratings table.
type Rating struct {
	Product int32
	Rating  int32
	At      time.Time
}

// Week is what one customer does in the week from start (a midnight UTC)
// in round round of the loop, having been shown the products shown (a
// product shown on two shelves counts once): clicks and purchases of shown
// products as ClickShare and BuyShare say, plus the customer's own
// shopping, drawn as the warehouse's sales and browsing sessions are (the
// segment's purchase rate for a week). Bought products are rated with the
// segment's rating probability and the generator's rating rule. Events are
// in time order within (start, start + 7 days); a product is rated at most
// once (the loop skips ratings of products rated before).
func (s *Shop) Week(round int, customerID int32, shown []int32, start time.Time) ([]Event, []Rating, error) {
	if start.UTC().Truncate(24*time.Hour) != start.UTC() {
		return nil, nil, fmt.Errorf("demo: a week starts at midnight UTC, got %s", start)
	}
	cu, err := s.customer(customerID)
	if err != nil {
		return nil, nil, err
	}
	r := s.rng(int64(round)<<32 | int64(customerID))
	seg := &segments[cu.segment]
	day0 := int32(start.Unix() / 86400)
	var evs []event
	var bought []int32
	seen := map[int32]bool{}
	for _, id := range shown {
		if seen[id] {
			continue
		}
		seen[id] = true
		p, err := s.product(id)
		if err != nil {
			return nil, nil, err
		}
		l := likes(&cu, p)
		if !r.bernoulli(ClickShare * l) {
			continue
		}
		at := int64(day0+int32(r.intn(7)))*86400 + int64(r.between(8*3600, 21*3600))
		evs = append(evs, event{evClick, id, at})
		at += int64(r.between(2, 30))
		evs = append(evs, event{evView, id, at})
		if !r.bernoulli(BuyShare * l) {
			continue
		}
		at += int64(r.between(20, 300))
		evs = append(evs, event{evCart, id, at})
		at += int64(r.between(60, 900))
		evs = append(evs, event{evPurchase, id, at})
		bought = append(bought, id)
	}
	// The customer's own shopping this week.
	n := r.poisson(seg.rate * 7 / 30.4375)
	sales := make([]sale, 0, n)
	for range n {
		p := s.m.pickProduct(r, &cu)
		sales = append(sales, sale{day: day0 + int32(r.intn(7)), product: p.id})
	}
	evs = s.m.appendEvents(r, &cu, sales, evs)
	for _, x := range sales {
		bought = append(bought, x.product)
	}

	var ratings []Rating
	rated := map[int32]bool{}
	for _, id := range bought {
		if rated[id] || !r.bernoulli(seg.rateProb) {
			rated[id] = true
			continue
		}
		rated[id] = true
		p, _ := s.product(id) // checked above, or drawn by pickProduct
		ratings = append(ratings, Rating{Product: id, Rating: rate(r, &cu, p), At: start.Add(7*24*time.Hour - time.Second)})
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Type: eventTypes[e.kind], Product: e.product, At: time.Unix(e.at, 0).UTC()}
	}
	sortEvents(out)
	return out, ratings, nil
}

// sortEvents orders events by time, then product and type: a total
// order, so the loop assigns event ids deterministically.
func sortEvents(evs []Event) {
	slices.SortFunc(evs, func(a, b Event) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Product, b.Product), cmp.Compare(a.Type, b.Type))
	})
}
