package demo

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// generatorVersion changes whenever the generated rows change, so a demo
// loaded by an older binary is not mistaken for the current one.
const generatorVersion = 1

// The calendar of the demo warehouse, as days since 1970-01-01.
var (
	// Sales history runs from dataStart to snapshot inclusive; the segment
	// inputs in dim_customer are measured at snapshot.
	dataStart   = dayOf(2021, 1, 1)
	snapshot    = dayOf(2024, 12, 31)
	signupStart = dayOf(2020, 1, 1)
	signupEnd   = dayOf(2024, 6, 30)
)

func dayOf(y int, m time.Month, d int) int32 {
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func dayTime(day int32) time.Time { return time.Unix(int64(day)*86400, 0).UTC() }

// Per scale unit.
const (
	customersPerScale = 1000
	productsPerScale  = 200
	// productsPerCell: products are laid out in cells of (category, taste
	// factor); 8 categories x 5 factors x 5 = 200 products per scale unit.
	productsPerCell = productsPerScale / (numCategories * numFactors)
)

// The model's tables below are constants in spirit: nothing assigns to them.

type category struct {
	name      string
	basePrice float64
	share     float64     // share of an average customer's purchases
	growth    float64     // yearly growth of the category's demand
	season    [12]float64 // demand by calendar month, mean 1
	nouns     []string
	features  []string
	uses      []string
}

const numCategories = 8

var categories = [numCategories]category{
	{
		name: "Electronics", basePrice: 180, share: 0.15, growth: 0.12,
		season:   [12]float64{0.8, 0.7, 0.8, 0.8, 0.85, 0.85, 0.9, 0.95, 0.95, 1.0, 1.6, 1.8},
		nouns:    []string{"headphones", "speaker", "charger", "camera", "monitor", "keyboard", "router", "earbuds"},
		features: []string{"bluetooth connectivity", "long battery life", "usb-c charging", "hd display", "noise cancelling", "fast processor", "wireless pairing", "voice control"},
		uses:     []string{"for home office setups", "for gaming marathons", "for music lovers", "for video calls"},
	},
	{
		name: "Books", basePrice: 18, share: 0.12, growth: -0.03,
		season:   [12]float64{1.0, 0.9, 0.9, 0.9, 0.95, 1.1, 1.2, 1.15, 0.95, 0.9, 0.95, 1.1},
		nouns:    []string{"novel", "cookbook", "biography", "guidebook", "anthology", "workbook", "memoir", "atlas"},
		features: []string{"hardcover binding", "illustrated chapters", "bestselling author", "annotated edition", "large print", "award winning story", "practical exercises", "full colour photography"},
		uses:     []string{"for curious readers", "for book clubs", "for long journeys", "for rainy weekends"},
	},
	{
		name: "Home & Kitchen", basePrice: 55, share: 0.16, growth: 0.05,
		season:   [12]float64{1.15, 0.9, 0.9, 0.95, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.2, 1.3},
		nouns:    []string{"blender", "cookware set", "kettle", "knife block", "coffee grinder", "storage jars", "toaster", "cutting board"},
		features: []string{"stainless steel", "nonstick coating", "dishwasher safe parts", "ceramic finish", "precise temperature control", "cast iron", "airtight lids", "ergonomic handles"},
		uses:     []string{"for everyday cooking", "for busy kitchens", "for home chefs", "for weekend baking"},
	},
	{
		name: "Sports & Outdoors", basePrice: 65, share: 0.11, growth: 0.08,
		season:   [12]float64{1.25, 0.9, 0.95, 1.05, 1.15, 1.2, 1.2, 1.1, 0.95, 0.8, 0.7, 0.75},
		nouns:    []string{"tent", "backpack", "yoga mat", "running shoes", "dumbbells", "bike helmet", "water bottle", "trekking poles"},
		features: []string{"waterproof fabric", "breathable mesh", "shock absorbing sole", "adjustable straps", "reflective details", "quick dry material", "anti slip grip", "reinforced seams"},
		uses:     []string{"for trail running", "for mountain hiking", "for home workouts", "for camping trips"},
	},
	{
		name: "Toys & Games", basePrice: 30, share: 0.09, growth: 0.04,
		season:   [12]float64{0.6, 0.6, 0.65, 0.7, 0.75, 0.75, 0.8, 0.8, 0.85, 1.0, 1.7, 2.8},
		nouns:    []string{"board game", "puzzle", "building blocks", "plush toy", "card game", "model kit", "doll house", "science kit"},
		features: []string{"colourful pieces", "educational play", "family friendly rules", "safe rounded edges", "collectible figures", "strategy gameplay", "creative building", "glow in the dark"},
		uses:     []string{"for family game nights", "for curious kids", "for birthday gifts", "for party fun"},
	},
	{
		name: "Beauty", basePrice: 22, share: 0.10, growth: 0.07,
		season:   [12]float64{0.9, 1.15, 0.95, 0.95, 1.1, 0.95, 0.9, 0.9, 0.9, 0.95, 1.1, 1.25},
		nouns:    []string{"face serum", "moisturiser", "shampoo", "lipstick", "perfume", "face mask", "body lotion", "hair oil"},
		features: []string{"hyaluronic acid", "vitamin c", "fragrance free formula", "natural botanicals", "spf protection", "long lasting colour", "gentle cleansing", "deep hydration"},
		uses:     []string{"for sensitive skin", "for daily routines", "for glowing skin", "for spa evenings"},
	},
	{
		name: "Garden", basePrice: 45, share: 0.08, growth: 0.06,
		season:   [12]float64{0.4, 0.5, 0.9, 1.5, 1.8, 1.7, 1.4, 1.1, 0.9, 0.7, 0.5, 0.6},
		nouns:    []string{"planter", "hose", "pruning shears", "seed kit", "garden lights", "compost bin", "lawn mower", "bird feeder"},
		features: []string{"weather resistant", "solar powered", "rust proof blades", "frost tolerant seeds", "expandable length", "uv stable plastic", "raised bed design", "easy assembly"},
		uses:     []string{"for balcony gardens", "for vegetable patches", "for backyard lawns", "for flower beds"},
	},
	{
		name: "Clothing", basePrice: 40, share: 0.19, growth: 0.02,
		season:   [12]float64{1.1, 0.8, 1.05, 1.1, 1.0, 0.9, 0.85, 0.9, 1.05, 1.05, 1.05, 1.15},
		nouns:    []string{"jacket", "sweater", "jeans", "dress", "t-shirt", "scarf", "sneakers", "hoodie"},
		features: []string{"organic cotton", "merino wool", "slim fit cut", "stretch denim", "soft fleece lining", "classic tailoring", "relaxed silhouette", "machine washable fabric"},
		uses:     []string{"for casual weekends", "for office days", "for cold winters", "for summer evenings"},
	},
}

// Latent taste factors: every product leans to one, every customer mostly
// to one and a little to a second. Purchases, ratings and descriptions all
// follow them.
const numFactors = 5

type factor struct {
	name       string
	priceMult  float64
	adjectives []string
}

var factors = [numFactors]factor{
	{"premium", 1.8, []string{"Premium", "Luxury", "Professional", "Handcrafted"}},
	{"budget", 0.6, []string{"Affordable", "Everyday", "Value", "Basic"}},
	{"eco", 1.1, []string{"Eco-friendly", "Organic", "Sustainable", "Recycled"}},
	{"smart", 1.3, []string{"Smart", "Connected", "App-controlled", "Digital"}},
	{"travel", 0.9, []string{"Compact", "Portable", "Lightweight", "Travel"}},
}

// Customer segments: the clusters k-means should find in
// (purchase_frequency, avg_spend, last_purchase_days_ago).
type segment struct {
	name  string
	share float64
	// rate is purchases per month while active, before the per-customer
	// multiplier.
	rate float64
	// qtyExtra is the mean of quantity-1 (Poisson).
	qtyExtra float64
	// pricePref: +1 picks the dearer of two candidate products, -1 the
	// cheaper, 0 the first.
	pricePref int
	// discountShare is the probability that a sale is discounted.
	discountShare float64
	// rateProb is the probability that a bought product gets rated.
	rateProb float64
	// churned customers stop buying 6 to 30 months before the snapshot.
	churned bool
}

const numSegments = 4

var segments = [numSegments]segment{
	{name: "champion", share: 0.12, rate: 5.3, qtyExtra: 1.0, pricePref: +1, discountShare: 0.15, rateProb: 0.45},
	{name: "loyal", share: 0.28, rate: 2.55, qtyExtra: 0.4, pricePref: 0, discountShare: 0.25, rateProb: 0.35},
	{name: "occasional", share: 0.40, rate: 0.51, qtyExtra: 0.1, pricePref: -1, discountShare: 0.55, rateProb: 0.25},
	{name: "lapsed", share: 0.20, rate: 1.65, qtyExtra: 0.3, pricePref: 0, discountShare: 0.3, rateProb: 0.3, churned: true},
}

type region struct {
	name  string
	share float64
}

var regions = []region{
	{"North America", 0.35}, {"Europe", 0.30}, {"Asia Pacific", 0.20}, {"Latin America", 0.10}, {"Middle East & Africa", 0.05},
}

var firstNames = []string{
	"Alice", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Gustavo", "Hana", "Ivan", "Jasmine",
	"Kenji", "Lucia", "Mateo", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samir", "Tara",
	"Umar", "Vera", "William", "Ximena", "Yusuf", "Zoe", "Amara", "Bjorn", "Camille", "Diego",
	"Elif", "Farid", "Greta", "Hiro", "Ingrid", "Jonas", "Keiko", "Leila", "Marco", "Noor",
}

var lastNames = []string{
	"Adams", "Bauer", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
	"Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka",
	"Usman", "Varga", "Wagner", "Xu", "Yilmaz", "Zhang", "Andersen", "Becker", "Chowdhury", "Dimitrov",
	"Evans", "Fernandes", "Gupta", "Horvath", "Iyer", "Johansson", "Kim", "Larsen", "Mendes", "Novak",
}

var brands = []string{
	"Acme", "Northwind", "Lumen", "Verde", "Kestrel", "Orbit", "Juniper", "Halcyon",
	"Tidewater", "Brightline", "Copperfield", "Nimbus", "Sagebrush", "Vantage", "Willow", "Zephyr",
}

// model holds the tables derived once per load from the constants above:
// cumulative weights for the draws. Nothing in it changes after newModel.
type model struct {
	seed      int64
	scale     int
	customers int
	products  int
	// dayCum[c][k] is the total demand weight of category c over the days
	// dataStart .. dataStart+k-1, so a day in any window is one binary
	// search away.
	dayCum      [numCategories][]float64
	catShareCum []float64
	segmentCum  []float64
	regionCum   []float64
	// priced caches every product's price and quality, which every sale
	// needs (8 bytes a product: 16 MB at MaxScale).
	priced []pricedProduct
}

type pricedProduct struct {
	cents   int32
	quality float32
}

func newModel(scale int, seed int64) *model {
	m := &model{seed: seed, scale: scale, customers: customersPerScale * scale, products: productsPerScale * scale}
	days := int(snapshot-dataStart) + 1
	for c := range categories {
		cat := &categories[c]
		cum := make([]float64, days+1)
		for k := 0; k < days; k++ {
			t := dayTime(dataStart + int32(k))
			w := cat.season[t.Month()-1] * math.Pow(1+cat.growth, float64(k)/365.25)
			if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
				w *= 1.3 // people shop more at weekends
			}
			cum[k+1] = cum[k] + w
		}
		m.dayCum[c] = cum
	}
	for _, c := range categories {
		m.catShareCum = appendCum(m.catShareCum, c.share)
	}
	for _, s := range segments {
		m.segmentCum = appendCum(m.segmentCum, s.share)
	}
	for _, r := range regions {
		m.regionCum = appendCum(m.regionCum, r.share)
	}
	m.priced = make([]pricedProduct, m.products)
	for j := range m.priced {
		p := m.drawProduct(j)
		m.priced[j] = pricedProduct{cents: int32(p.cents), quality: float32(p.quality)}
	}
	return m
}

func appendCum(cum []float64, w float64) []float64 {
	if len(cum) > 0 {
		w += cum[len(cum)-1]
	}
	return append(cum, w)
}

// product is one row of dim_product plus what the other tables need.
type product struct {
	id       int32
	category int
	factor   int
	cents    int64 // price
	quality  float64
}

// productAt returns product index j (id j+1).
func (m *model) productAt(j int) product {
	p := m.priced[j]
	return product{id: int32(j + 1), category: j % numCategories, factor: (j / numCategories) % numFactors,
		cents: int64(p.cents), quality: float64(p.quality)}
}

// drawProduct draws product index j. Its category and factor come from its
// position, so a customer can pick a product of a given category and factor
// by arithmetic; its price and quality from its own stream.
func (m *model) drawProduct(j int) product {
	var r rng
	r.reset(m.seed, streamProduct, int64(j))
	c := j % numCategories
	f := (j / numCategories) % numFactors
	price := categories[c].basePrice * factors[f].priceMult * math.Exp(0.5*r.norm())
	// Shop prices: whole units minus one cent, at least 0.99.
	cents := int64(math.Max(1, math.Round(price)))*100 - 1
	return product{id: int32(j + 1), category: c, factor: f, cents: cents, quality: 0.2 + 0.8*r.float64()}
}

// productText returns the product's name and description: a style word of
// its factor, a noun, two features and a use of its category, so products
// of one category share words and TF-IDF finds them as neighbours.
func (m *model) productText(j int) (name, description string) {
	var r rng
	r.reset(m.seed, streamProduct, int64(j))
	r.norm() // the draws drawProduct makes
	r.float64()
	c := j % numCategories
	f := (j / numCategories) % numFactors
	cat := &categories[c]
	noun := cat.nouns[r.intn(len(cat.nouns))]
	adj := factors[f].adjectives[r.intn(len(factors[f].adjectives))]
	f1 := r.intn(len(cat.features))
	f2 := (f1 + 1 + r.intn(len(cat.features)-1)) % len(cat.features)
	use := cat.uses[r.intn(len(cat.uses))]
	brand := brands[r.intn(len(brands))]
	name = fmt.Sprintf("%s %s %s-%d", brand, titleCase(noun), strings.ToUpper(cat.name[:1]), 100+j)
	description = fmt.Sprintf("%s %s with %s and %s, %s.", adj, noun, cat.features[f1], cat.features[f2], use)
	return name, description
}

func titleCase(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// customer is one customer's generating parameters.
type customer struct {
	id       int32
	name     string
	region   string
	segment  int
	signup   int32
	first    int32 // first day the customer can buy
	last     int32 // last day the customer can buy (churn or snapshot)
	rate     float64
	mainF    int
	secondF  int
	taste    [numFactors]float64
	tasteCum [numFactors]float64
	catCum   [numCategories]float64
}

// customerAt draws customer index i (id i+1).
func (m *model) customerAt(i int) customer {
	var r rng
	r.reset(m.seed, streamCustomer, int64(i))
	cu := customer{id: int32(i + 1)}
	cu.name = firstNames[r.intn(len(firstNames))] + " " + lastNames[r.intn(len(lastNames))]
	cu.region = regions[r.pick(m.regionCum)].name
	cu.segment = r.pick(m.segmentCum)
	seg := &segments[cu.segment]
	if seg.churned {
		cu.last = snapshot - int32(r.between(240, 720))
		cu.signup = signupStart + int32(r.intn(int(cu.last-120-signupStart)))
	} else {
		// Sign-ups grow over time: density proportional to a+t on [0, 1].
		const a = 0.3
		t := -a + math.Sqrt(a*a+2*r.float64()*(a+0.5))
		cu.signup = signupStart + int32(t*float64(signupEnd-signupStart))
		cu.last = snapshot
	}
	cu.first = max(cu.signup, dataStart)
	cu.rate = seg.rate * math.Exp(0.2*r.norm()-0.02)
	cu.mainF = r.intn(numFactors)
	cu.secondF = (cu.mainF + 1 + r.intn(numFactors-1)) % numFactors
	for f := range cu.taste {
		cu.taste[f] = 0.03
	}
	cu.taste[cu.mainF] += 0.6
	cu.taste[cu.secondF] += 0.25
	sum := 0.0
	for f, w := range cu.taste {
		sum += w
		cu.tasteCum[f] = sum
	}
	// Category preferences: the shop-wide shares, each scaled by a
	// customer-specific log-normal factor.
	sum = 0
	for c := range categories {
		sum += categories[c].share * math.Exp(0.7*r.norm())
		cu.catCum[c] = sum
	}
	return cu
}

// sale is one generated fact_sales row, before its id is assigned.
type sale struct {
	day      int32
	product  int32
	quantity int32
	cents    int64
}

// pickProduct draws the product of a purchase or a page view: a category
// by the customer's preferences, a factor by taste, then a product of that
// cell, popular ones (low index) more often, and of two candidates the one
// the segment's price preference favours.
func (m *model) pickProduct(r *rng, cu *customer) product {
	c := r.pick(cu.catCum[:])
	f := r.pick(cu.tasteCum[:])
	perCell := productsPerCell * m.scale
	cand := func() product {
		u := r.float64()
		k := int(float64(perCell) * u * math.Sqrt(u))
		return m.productAt(k*numCategories*numFactors + f*numCategories + c)
	}
	p := cand()
	switch segments[cu.segment].pricePref {
	case +1:
		if q := cand(); q.cents > p.cents {
			p = q
		}
	case -1:
		if q := cand(); q.cents < p.cents {
			p = q
		}
	}
	return p
}

// sales generates customer cu's purchases into buf (reused), in date order.
// At least one: every customer in dim_customer has bought something, so
// the segment inputs are defined.
func (m *model) sales(cu *customer, buf []sale) []sale {
	var r rng
	r.reset(m.seed, streamSales, int64(cu.id))
	seg := &segments[cu.segment]
	months := float64(cu.last-cu.first+1) / 30.4375
	n := max(1, r.poisson(cu.rate*months))
	buf = buf[:0]
	lo, hi := int(cu.first-dataStart), int(cu.last-dataStart)
	for range n {
		p := m.pickProduct(&r, cu)
		cum := m.dayCum[p.category]
		x := cum[lo] + r.float64()*(cum[hi+1]-cum[lo])
		k := sort.SearchFloat64s(cum[lo+1:hi+2], x) + lo
		if k > hi { // x == cum[hi+1] only by rounding
			k = hi
		}
		q := 1 + r.poisson(seg.qtyExtra)
		amount := float64(int64(q) * p.cents)
		if r.bernoulli(seg.discountShare) {
			amount *= discounts[r.intn(len(discounts))]
		}
		buf = append(buf, sale{day: dataStart + int32(k), product: p.id, quantity: int32(q), cents: int64(math.Round(amount))})
	}
	// Equal keys mean equal sales, so the unstable sort is deterministic.
	slices.SortFunc(buf, func(a, b sale) int {
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.product, b.product),
			cmp.Compare(a.quantity, b.quantity), cmp.Compare(a.cents, b.cents))
	})
	return buf
}

// segmentInputs are dim_customer's derived columns, measured at snapshot.
type segmentInputs struct {
	frequencyCents int64 // purchases per month since the first possible purchase, x100
	avgSpendCents  int64
	recencyDays    int32
}

func inputsOf(cu *customer, s []sale) segmentInputs {
	var total int64
	for _, x := range s {
		total += x.cents
	}
	// At least three months, so a customer who signed up last week does not
	// look like the most frequent buyer in the shop.
	months := max(3, float64(snapshot-cu.first+1)/30.4375)
	return segmentInputs{
		frequencyCents: int64(math.Round(100 * float64(len(s)) / months)),
		avgSpendCents:  int64(math.Round(float64(total) / float64(len(s)))),
		recencyDays:    snapshot - s[len(s)-1].day,
	}
}

// discounts are the price cuts a discounted sale gets.
var discounts = [...]float64{0.95, 0.9, 0.8, 0.7}

// rating is one generated fact_ratings row.
type rating struct {
	product int32
	rating  int32
	at      int64 // seconds since 1970
}

// ratings rates a share of the distinct products in the customer's sales,
// from taste and quality: rating = 1 + 4*(0.65*taste + 0.35*quality + noise),
// where taste is 1 for the customer's main factor, 0.42 for the second and
// 0 for the rest.
// seen is scratch space (cleared here) for the products already met.
func (m *model) ratings(cu *customer, s []sale, buf []rating, seen map[int32]bool) []rating {
	var r rng
	r.reset(m.seed, streamRatings, int64(cu.id))
	seg := &segments[cu.segment]
	buf = buf[:0]
	clear(seen)
	for _, x := range s {
		if seen[x.product] {
			continue
		}
		seen[x.product] = true
		if !r.bernoulli(seg.rateProb) {
			continue
		}
		v := rate(&r, cu, m.productAt(int(x.product)-1))
		at := int64(x.day)*86400 + int64(r.between(1, 21))*86400 + int64(r.intn(86400))
		at = min(at, int64(snapshot)*86400+86399)
		buf = append(buf, rating{product: x.product, rating: v, at: at})
	}
	return buf
}

// tasteFor is the customer's taste for the product's factor: 1 for the
// main factor, 0.42 for the second, 0 for the rest.
func tasteFor(cu *customer, p product) float64 { return (cu.taste[p.factor] - 0.03) / 0.6 }

// ratingMean is the mean of the rating's latent score before noise.
func ratingMean(cu *customer, p product) float64 { return 0.65*tasteFor(cu, p) + 0.35*p.quality }

// rate draws the rating customer cu gives product p (one normal draw).
func rate(r *rng, cu *customer, p product) int32 {
	score := ratingMean(cu, p) + 0.12*r.norm()
	v := int32(math.Round(1 + 4*score))
	return min(5, max(1, v))
}

// event is one generated events row.
type event struct {
	kind    int // index into eventTypes
	product int32
	at      int64 // seconds since 1970
}

var eventTypes = [...]string{"click", "view", "cart", "purchase"}

const (
	evClick = iota
	evView
	evCart
	evPurchase
)

// events generates the customer's clickstream: for every sale, a browsing
// session on the sale's day (other products viewed, some clicked, a few
// carted and abandoned), then the purchase funnel (click sometimes, view,
// cart, purchase).
func (m *model) events(cu *customer, s []sale, buf []event) []event {
	var r rng
	r.reset(m.seed, streamEvents, int64(cu.id))
	return m.appendEvents(&r, cu, s, buf[:0])
}

// appendEvents appends the sessions of sales s drawn from r: the events
// of the warehouse, and the organic shopping of the loop's simulation.
func (m *model) appendEvents(r *rng, cu *customer, s []sale, buf []event) []event {
	for _, x := range s {
		t0 := int64(x.day)*86400 + int64(r.between(8*3600, 21*3600))
		browse := r.poisson(0.6)
		at := t0 - int64(browse)*int64(r.between(60, 600))
		for range browse {
			p := m.pickProduct(r, cu)
			if r.bernoulli(0.3) {
				buf = append(buf, event{evClick, p.id, at})
				at += int64(r.between(2, 30))
			}
			buf = append(buf, event{evView, p.id, at})
			if r.bernoulli(0.1) {
				at += int64(r.between(20, 300))
				buf = append(buf, event{evCart, p.id, at})
			}
			at += int64(r.between(30, 300))
		}
		at = max(at, t0)
		if r.bernoulli(0.3) {
			buf = append(buf, event{evClick, x.product, at})
			at += int64(r.between(2, 30))
		}
		buf = append(buf, event{evView, x.product, at})
		at += int64(r.between(30, 600))
		buf = append(buf, event{evCart, x.product, at})
		at += int64(r.between(60, 900))
		buf = append(buf, event{evPurchase, x.product, at})
	}
	return buf
}
