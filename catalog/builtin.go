package catalog

// Builtin returns the catalog of every model function Flywheel ships.
func Builtin() *Catalog { return New(builtinFuncs()...) }

// BuiltinWithStreams is Builtin plus the stream functions over s.
func BuiltinWithStreams(s Streams) *Catalog {
	return New(append(builtinFuncs(), StreamFuncs(s)...)...)
}

func builtinFuncs() []*Func {
	return []*Func{
		KMeans(), KMeansCenters(),
		HoltForecast(), HoltFit(),
		NMF(), Recommend(), SimilarItems(),
		SGDRegress(),
		Train(), Learn(), Evaluate(), Outcomes(), Deploy(), Rollback(), DropModel(),
	}
}
