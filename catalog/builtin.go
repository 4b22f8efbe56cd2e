package catalog

// Builtin returns the catalog of every model function Flywheel ships.
func Builtin() *Catalog {
	return New(
		KMeans(), KMeansCenters(),
		NMF(), Recommend(), SimilarItems(),
		SGDRegress(),
	)
}
