package apps

// NewCryptoApp lets the external tests build a crypto app with small key limits. The tests of
// this package are external (package apps_test) because the conformance suite they use,
// models/modeltest, imports apps itself.
var NewCryptoApp = newCryptoApp
