package catalog

// Builtin returns the catalog of every model function Flywheel ships.
func Builtin() *Catalog {
	return New(
		KMeans(), KMeansCenters(),
		HoltForecast(), HoltFit(),
		NMF(), Recommend(), SimilarItems(),
		SGDRegress(),
		Train(), Learn(), Evaluate(), Outcomes(), Deploy(), Rollback(), DropModel(),
	)
}
